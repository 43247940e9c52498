from django.contrib import admin

from .models import ChangeRequest, SideEffectReport


@admin.register(SideEffectReport)
class SideEffectReportAdmin(admin.ModelAdmin):
    list_display = ("patient", "reported_at", "resolved_at", "resolved_by")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "reported_at")
    search_fields = ("patient__last_name", "patient__first_name", "patient__email", "description")
    list_select_related = ("patient", "resolved_by")
    # The patient's words, and the resolution portal.services.resolve_side_effect stored
    # (with who) from the patient page; only staff's note stays editable.
    readonly_fields = [f.name for f in SideEffectReport._meta.fields if f.name != "staff_note"]
    date_hierarchy = "reported_at"


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ("patient", "kind", "session", "requested_at", "handled_at")
    list_filter = ("kind", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("patient__last_name", "patient__email", "message")
    list_select_related = ("patient", "session")
    # Asked by the patient, handled through portal.services.handle_change_request.
    readonly_fields = [f.name for f in ChangeRequest._meta.fields]
