from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"
    verbose_name = "Patient portal"

    def ready(self):
        from . import language  # noqa: F401 (connects the sign-in receiver)
