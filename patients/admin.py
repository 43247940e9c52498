from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

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
    readonly_fields = ("reminders",)
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "date_of_birth", "user", "reminders")}),
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

    @admin.display(description="Reminders")
    def reminders(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:treatments_reminder_changelist")
        return format_html(
            '<a href="{}?session__patient__id__exact={}">All reminders of this patient</a>',
            url,
            obj.pk,
        )
