"""Reminders in the back office: read-only rows and their attempts; the only change is the
Resend action, through reminders.services.resend."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import pgettext, pgettext_lazy

from . import services as reminders
from .models import DeliveryAttempt, Reminder, ReminderState


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("attempted_at", "succeeded", "error", "worker")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """Every reminder with its state and delivery attempts; failed ones can be resent.

    Filter by state "Failed" for the list staff must act on; search by patient.
    """

    list_display = ("kind", "channel", "patient", "due_at", "state", "attempts", "sent_at")
    list_filter = ("state", "kind", "channel", "due_at")
    search_fields = (
        "session__patient__last_name",
        "session__patient__first_name",
        "session__patient__email",
    )
    date_hierarchy = "due_at"
    list_select_related = ("session__patient", "waitlist_offer__patient")
    inlines = [DeliveryAttemptInline]
    actions = ["resend_failed"]
    readonly_fields = [f.name for f in Reminder._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def lookup_allowed(self, lookup, value, request=None):
        # The patient page links here with the patient's reminders.
        return lookup == "session__patient__id__exact" or super().lookup_allowed(
            lookup, value, request
        )

    @admin.display(ordering="session__patient__last_name")
    def patient(self, obj):
        return obj.patient

    @admin.action(
        description=pgettext_lazy("staff", "Resend the selected failed reminders"),
        permissions=["change"],
    )
    def resend_failed(self, request, queryset):
        resent, refused = 0, []
        for reminder in queryset.filter(state=ReminderState.FAILED):
            try:
                reminders.resend(reminder, by=request.user.get_username())
                resent += 1
            except ValidationError as exc:
                refused.append(f"#{reminder.pk}: {exc.messages[0]}")
        self.message_user(
            request,
            pgettext("staff", "%(count)s reminder(s) queued to be sent again.") % {"count": resent},
        )
        if refused:
            self.message_user(
                request,
                pgettext("staff", "Not resent: %(refused)s") % {"refused": "; ".join(refused)},
                level="warning",
            )
