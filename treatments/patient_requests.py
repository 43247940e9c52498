"""What patients report and ask from the portal: side effects (a flag for staff until
resolved) and requests to move or cancel a session (staff act on them with the usual
services, so the six-month rule and the NSAID window still apply)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.models import Patient

from .models import OPEN_STATUSES, ChangeRequest, SideEffectReport, TreatmentSession


def report_side_effect(*, patient: Patient, description: str, now=None) -> SideEffectReport:
    """The patient tells the clinic about a side effect; staff see a flag until resolved."""
    description = description.strip()
    if not description:
        raise ValidationError("Please describe what you notice.", code="required")
    session = (
        TreatmentSession.objects.filter(patient=patient, status="completed")
        .order_by("-starts_at")
        .first()
    )
    return SideEffectReport.objects.create(
        patient=patient,
        session=session,
        description=description,
        reported_at=now or timezone.now(),
    )


def resolve_side_effect(*, report: SideEffectReport, resolved_by, note: str = "") -> None:
    SideEffectReport.objects.filter(pk=report.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=resolved_by, staff_note=note.strip()
    )


def request_change(*, patient: Patient, session: TreatmentSession, kind: str, message: str = ""):
    """Ask the clinic to move or cancel an upcoming session (staff decide and act)."""
    if session.patient_id != patient.pk or session.status not in OPEN_STATUSES:
        raise ValidationError("This session can no longer be changed.", code="invalid_status")
    if kind not in ChangeRequest.Kind.values:
        raise ValidationError("Choose to move or to cancel.", code="invalid")
    already = ValidationError(
        "You have already asked about this session; the clinic will contact you.",
        code="already_requested",
    )
    if ChangeRequest.objects.filter(session=session, handled_at__isnull=True).exists():
        raise already
    try:
        with transaction.atomic():
            return ChangeRequest.objects.create(
                patient=patient, session=session, kind=kind, message=message.strip()
            )
    except IntegrityError as exc:  # a simultaneous second click won the race
        raise already from exc


def handle_change_request(*, change_request: ChangeRequest, handled_by) -> None:
    ChangeRequest.objects.filter(pk=change_request.pk, handled_at__isnull=True).update(
        handled_at=timezone.now(), handled_by=handled_by
    )
