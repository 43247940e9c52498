"""The back office. State changes of sessions go through treatments.services from the front
office; here sessions are read-mostly so the protocol rules cannot be sidestepped."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from . import reminders
from .models import (
    DeliveryAttempt,
    FollowUp,
    FollowUpPhoto,
    ProductLot,
    ProtocolVersion,
    Reminder,
    ReminderState,
    Room,
    SessionVial,
    TreatmentSession,
)


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "effective_from", "gap_months", "nsaid_days_before", "nsaid_days_after")
    search_fields = ("name",)

    def get_readonly_fields(self, request, obj=None):
        # Sessions keep the version they were booked under: once used, a version is frozen
        # and a change is made as a new version.
        if obj is not None and obj.in_use:
            return [f.name for f in self.model._meta.fields]
        return ["created_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)


class SessionVialInline(admin.TabularInline):
    model = SessionVial
    extra = 0
    raw_id_fields = ("lot",)
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ProductLot)
class ProductLotAdmin(admin.ModelAdmin):
    list_display = (
        "lot_number",
        "product_name",
        "manufacturer",
        "expiry_date",
        "certificate_valid_until",
        "vials_received",
    )
    list_filter = ("manufacturer", "product_name", "expiry_date")
    search_fields = ("lot_number", "product_name", "manufacturer", "certificate_issuer")
    date_hierarchy = "expiry_date"


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = ("kind", "due_date", "status", "seen_by", "patient_rating", "hair_density_per_cm2")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TreatmentSession)
class TreatmentSessionAdmin(admin.ModelAdmin):
    list_display = ("patient", "starts_at", "clinician", "room", "status", "protocol")
    list_filter = ("status", "clinician", "room", "protocol", "local_date")
    search_fields = ("patient__last_name", "patient__first_name", "patient__email")
    date_hierarchy = "starts_at"
    list_select_related = ("patient", "clinician", "room", "protocol")
    inlines = [SessionVialInline, FollowUpInline]
    # Dates, status and the people involved change only through the services, which enforce
    # the six-month rule, the NSAID window and double booking.
    readonly_fields = (
        "patient",
        "starts_at",
        "ends_at",
        "clinician",
        "room",
        "status",
        "cancellation_reason",
        "cancelled_at",
        "protocol",
        "gap_months",
        "local_date",
        "gap_until",
        "booked_by",
        "booked_at",
        "nsaid_free_confirmed_at",
        "nsaid_decision",
        "nsaid_decided_by",
        "nsaid_decided_at",
        "completed_at",
        "completed_by",
    )

    def has_add_permission(self, request):
        return False


class FollowUpPhotoInline(admin.TabularInline):
    model = FollowUpPhoto
    extra = 0
    raw_id_fields = ("uploaded_by",)


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ("session", "kind", "due_date", "status", "seen_by")
    list_filter = ("status", "kind", "due_date")
    search_fields = ("session__patient__last_name", "session__patient__email")
    date_hierarchy = "due_date"
    list_select_related = ("session__patient", "seen_by")
    readonly_fields = ("session", "kind", "due_date")
    raw_id_fields = ("seen_by",)
    inlines = [FollowUpPhotoInline]

    def has_add_permission(self, request):
        return False


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
    list_select_related = ("session__patient",)
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
        return obj.session.patient

    @admin.action(description="Resend the selected failed reminders", permissions=["change"])
    def resend_failed(self, request, queryset):
        resent, refused = 0, []
        for reminder in queryset.filter(state=ReminderState.FAILED):
            try:
                reminders.resend(reminder, by=request.user.get_username())
                resent += 1
            except ValidationError as exc:
                refused.append(f"#{reminder.pk}: {exc.messages[0]}")
        self.message_user(request, f"{resent} reminder(s) queued to be sent again.")
        if refused:
            self.message_user(request, "Not resent: " + "; ".join(refused), level="warning")
