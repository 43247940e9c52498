"""What patients send through the portal, as staff deal with it: side-effect reports and
requests to move or cancel a session. Closing either needs a note (the outcome a patient
sees, for a request); the inline forms on the patient page post here, and a missing or
refused note comes back on this app's own small form page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import (
    FIELD_FOR_CODE,
    BookingRequestPickForm,
    CloseChangeRequestForm,
    CloseSideEffectForm,
    DeclineBookingForm,
)
from treatments import patient_requests, self_service
from treatments.models import BookingRequest, ChangeRequest, SideEffectReport
from ui.forms import add_service_error


def _close(request, *, form_class, close, success, patient_id, title, about):
    """Run `close(note)` on a POST that carries a note; otherwise (a GET, a bare "Handled"
    click, a refusal) show the form asking for it."""
    posted = request.method == "POST" and "note" in request.POST
    form = form_class(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            close(form.cleaned_data["note"])
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(request, success)
            return redirect("patient_detail", pk=patient_id)
    return render(
        request,
        "staff/request_close.html",
        {"form": form, "title": title, "about": about, "patient_id": patient_id},
    )


@permission_required("treatments.change_sideeffectreport")
def resolve_side_effect(request, pk):
    report = get_object_or_404(SideEffectReport.objects.select_related("patient"), pk=pk)
    return _close(
        request,
        form_class=CloseSideEffectForm,
        close=lambda note: patient_requests.resolve_side_effect(
            report=report, resolved_by=request.user, note=note
        ),
        success=pgettext("staff", "Marked as dealt with."),
        patient_id=report.patient_id,
        title=pgettext("staff", "Side effect reported by %(patient)s")
        % {"patient": report.patient.full_name},
        about=report.description,
    )


@permission_required("treatments.change_changerequest")
def handle_change_request(request, pk):
    change_request = get_object_or_404(ChangeRequest.objects.select_related("patient"), pk=pk)
    return _close(
        request,
        form_class=CloseChangeRequestForm,
        close=lambda note: patient_requests.handle_change_request(
            change_request=change_request, handled_by=request.user, outcome=note
        ),
        success=pgettext("staff", "Request handled; the patient sees the outcome in the portal."),
        patient_id=change_request.patient_id,
        title=pgettext("staff", "%(kind)s: request from %(patient)s")
        % {"kind": change_request.get_kind_display(), "patient": change_request.patient.full_name},
        about=change_request.message,
    )


# --- Self-booking requests (SELF_BOOKING_NEEDS_APPROVAL) -------------------------------------


@permission_required("treatments.add_treatmentsession")
def booking_requests(request):
    """The open self-booking requests, oldest first: book one (every rule checked again) or
    decline it with a word for the patient."""
    form = DeclineBookingForm(request.POST or None)
    if request.method == "POST":
        pick = BookingRequestPickForm(request.POST)
        if pick.is_valid():
            booking_request = pick.cleaned_data["request"]
            try:
                if "approve" in request.POST:
                    session = self_service.approve_booking_request(
                        booking_request=booking_request, handled_by=request.user
                    )
                    messages.success(
                        request,
                        pgettext("staff", "Session booked for %(patient)s.")
                        % {"patient": session.patient.full_name},
                    )
                elif form.is_valid():
                    self_service.decline_booking_request(
                        booking_request=booking_request,
                        handled_by=request.user,
                        outcome=form.cleaned_data["outcome"],
                    )
                    messages.success(request, pgettext("staff", "Request declined."))
                else:
                    messages.error(
                        request,
                        pgettext("staff", "Say why it is declined, in words for the patient."),
                    )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            return redirect("booking_requests")
        messages.error(request, pgettext("staff", "That request is no longer open."))
        return redirect("booking_requests")
    pending = list(
        BookingRequest.objects.filter(handled_at__isnull=True)
        .select_related("patient", "site")
        .order_by("requested_at", "pk")[:200]
    )
    return render(
        request,
        "staff/booking_requests.html",
        {"pending": pending, "form": form, "needs_approval": self_service.needs_approval()},
    )
