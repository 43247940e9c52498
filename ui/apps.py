from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "ui"
    verbose_name = "Shared page parts"

    def ready(self):
        from ui.translation import remember_translations

        remember_translations()
