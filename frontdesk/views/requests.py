"""What patients send through the portal, as staff deal with it: side-effect reports and
requests to move or cancel a session."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.decorators import staff_required
from treatments import patient_requests
from treatments.models import ChangeRequest, SideEffectReport


@staff_required
@require_POST
def resolve_side_effect(request, pk):
    report = get_object_or_404(SideEffectReport, pk=pk)
    patient_requests.resolve_side_effect(
        report=report, resolved_by=request.user, note=request.POST.get("note", "")
    )
    messages.success(request, "Marked as dealt with.")
    return redirect("patient_detail", pk=report.patient_id)


@staff_required
@require_POST
def handle_change_request(request, pk):
    change_request = get_object_or_404(ChangeRequest, pk=pk)
    patient_requests.handle_change_request(change_request=change_request, handled_by=request.user)
    messages.success(request, "Request marked as handled.")
    return redirect("patient_detail", pk=change_request.patient_id)
