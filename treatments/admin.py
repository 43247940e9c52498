"""The back office, for clinic admins only (accounts.admin_site). State changes of sessions
and follow-ups go through treatments.services; here every field a service owns (statuses,
times, check-in, findings, sharing, every *_by) is read-only, so the protocol rules and the
record of who did what cannot be sidestepped. What the admin does, it does through the
services (the actions below)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import pgettext, pgettext_lazy

from . import services
from .models import (
    ChangeRequest,
    FollowUp,
    FollowUpPhoto,
    FollowUpRevision,
    ProductLot,
    ProtocolVersion,
    Room,
    RoomOutOfService,
    SessionVial,
    SideEffectReport,
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


class RoomOutOfServiceInline(admin.TabularInline):
    model = RoomOutOfService
    extra = 0


@admin.register(RoomOutOfService)
class RoomOutOfServiceAdmin(admin.ModelAdmin):
    list_display = ("room", "starts_at", "ends_at", "reason")
    list_select_related = ("room",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "is_active")
    list_filter = ("is_active", "site")
    search_fields = ("name",)
    inlines = [RoomOutOfServiceInline]


class SessionVialInline(admin.TabularInline):
    model = SessionVial
    extra = 0
    raw_id_fields = ("lot",)
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


class _ServedFile:
    """A stored file as the admin's file widget shows it: its name, linked to the clinic's
    permission-checking view (`url`) rather than to the storage (which, for a bucket, would
    be a signed URL handed out past the view)."""

    def __init__(self, file, url: str):
        self.file, self.url = file, url

    def __str__(self) -> str:
        return self.file.name.rsplit("/", 1)[-1]


class CertificateInput(forms.ClearableFileInput):
    """The lot's certificate: "Currently: <name>" links to lots/<pk>/certificate/."""

    def is_initial(self, value):
        return bool(value and getattr(value, "name", None))

    def format_value(self, value):
        if self.is_initial(value) and getattr(value, "instance", None) is not None:
            return _ServedFile(value, reverse("lot_certificate", args=[value.instance.pk]))
        return None


@admin.register(ProductLot)
class ProductLotAdmin(admin.ModelAdmin):
    formfield_overrides = {models.FileField: {"widget": CertificateInput}}
    list_display = (
        "lot_number",
        "product_name",
        "manufacturer",
        "expiry_date",
        "certificate_valid_until",
        "vials_received",
        "vials_on_hand",
        "status",
    )
    # Stock and quarantine are the services' (the staff lot pages): shown, never edited here.
    readonly_fields = ("status", "status_reason", "vials_consumed")
    list_filter = ("manufacturer", "product_name", "expiry_date", "status")
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
    # Every field: dates, status and the people involved change only through the services,
    # which enforce the six-month rule, the NSAID window and double booking.
    readonly_fields = [f.name for f in TreatmentSession._meta.fields]
    actions = ["mark_no_show"]

    @admin.action(
        description=pgettext_lazy("staff", "Mark the selected sessions as no-shows"),
        permissions=["change"],
    )
    def mark_no_show(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda session: services.mark_no_show(session=session, recorded_by=request.user),
            pgettext("staff", "%(count)s marked as a no-show."),
        )

    def has_add_permission(self, request):
        return False


class FollowUpPhotoInline(admin.TabularInline):
    model = FollowUpPhoto
    extra = 0
    can_delete = False
    fields = readonly_fields = ("view", "photo", "uploaded_at", "uploaded_by")

    @admin.display(description="image")
    def photo(self, obj):
        # Through the photo view (its permission check and the access log), never a link
        # to the storage.
        return format_html(
            '<a href="{}">{}</a>',
            reverse("follow_up_photo", args=[obj.pk]),
            obj.image.name.rsplit("/", 1)[-1],
        )

    def has_add_permission(self, request, obj=None):
        return False  # photos come with a recorded finding (services.record_follow_up)


class FollowUpRevisionInline(admin.TabularInline):
    model = FollowUpRevision
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "version",
        "recorded_at",
        "recorded_by",
        "status",
        "seen_by",
        "notes",
        "hair_density_per_cm2",
        "patient_rating",
        "shared_with_patient",
        "reason",
    )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ("session", "kind", "due_date", "status", "seen_by")
    list_filter = ("status", "kind", "due_date")
    search_fields = ("session__patient__last_name", "session__patient__email")
    date_hierarchy = "due_date"
    list_select_related = ("session__patient", "seen_by")
    # Findings, sharing and status are recorded (and amended, with the earlier version kept)
    # only through services.record_follow_up, from the follow-up's page.
    readonly_fields = [f.name for f in FollowUp._meta.fields]
    inlines = [FollowUpPhotoInline, FollowUpRevisionInline]
    actions = ["mark_missed"]

    def has_add_permission(self, request):
        return False

    @admin.action(
        description=pgettext_lazy("staff", "Mark the selected due follow-ups as missed"),
        permissions=["change"],
    )
    def mark_missed(self, request, queryset):
        marked = services.mark_follow_ups_missed(
            follow_ups=queryset.select_related("session"), recorded_by=request.user
        )
        self.message_user(
            request,
            pgettext("staff", "%(count)s follow-up(s) marked as missed.") % {"count": marked},
        )


def _run_each(model_admin, request, queryset, action, done: str) -> None:
    """Run a service on each selected row; a refusal is reported, the others go ahead. `done`
    says how many succeeded (its %(count)s)."""
    succeeded, refused = 0, []
    for obj in queryset:
        try:
            action(obj)
            succeeded += 1
        except (ValidationError, PermissionDenied) as exc:
            refused.append(f"{obj}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
    model_admin.message_user(request, done % {"count": succeeded})
    if refused:
        model_admin.message_user(
            request,
            pgettext("staff", "Refused: %(refused)s") % {"refused": " | ".join(refused)},
            messages.WARNING,
        )


@admin.register(SideEffectReport)
class SideEffectReportAdmin(admin.ModelAdmin):
    list_display = ("patient", "reported_at", "resolved_at", "resolved_by")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "reported_at")
    search_fields = ("patient__last_name", "patient__first_name", "patient__email", "description")
    list_select_related = ("patient", "resolved_by")
    # The patient's words, and the resolution treatments.patient_requests.resolve_side_effect stored
    # (with who) from the patient page; only staff's note stays editable.
    readonly_fields = [f.name for f in SideEffectReport._meta.fields if f.name != "staff_note"]
    date_hierarchy = "reported_at"


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ("patient", "kind", "session", "requested_at", "handled_at")
    list_filter = ("kind", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("patient__last_name", "patient__email", "message")
    list_select_related = ("patient", "session")
    # Asked by the patient, handled through treatments.patient_requests.handle_change_request.
    readonly_fields = [f.name for f in ChangeRequest._meta.fields]
