from django.contrib import admin

from .models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = (
        "last_name",
        "first_name",
        "date_of_birth",
        "email",
        "phone",
        "time_zone",
        "takes_prescribed_nsaid",
    )
    list_filter = (
        "takes_prescribed_nsaid",
        "reminders_by_sms",
        "non_essential_opt_out",
        "time_zone",
    )
    search_fields = ("last_name", "first_name", "email", "phone")
    date_hierarchy = "created_at"
    raw_id_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "date_of_birth", "user")}),
        ("Contact", {"fields": ("email", "phone", "time_zone")}),
        (
            "Reminders and consent",
            {
                "fields": (
                    "reminders_by_email",
                    "reminders_by_sms",
                    "contact_consent_at",
                    "non_essential_opt_out",
                )
            },
        ),
        (
            "Medical",
            {
                "fields": (
                    "medications",
                    "takes_prescribed_nsaid",
                    "prescribed_nsaid",
                    "allergies",
                    "notes",
                )
            },
        ),
    )
