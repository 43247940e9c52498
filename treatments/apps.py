from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "treatments"

    def ready(self):
        from . import waitlist  # noqa: F401 - keeps the times cancelled or moved sessions free
