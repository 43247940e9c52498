from django.apps import AppConfig


class RemindersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self):
        from . import receivers  # noqa: F401 - connects to treatments' and patients' signals
