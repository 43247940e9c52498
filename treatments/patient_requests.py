"""What patients report and ask from the portal: side effects (a flag for staff until
resolved) and requests to move or cancel a session (staff act on them with the usual
services, so the six-month rule and the NSAID window still apply)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.prepared import PreparedGet
from patients.models import Patient

from . import signals
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


def resolve_side_effect(
    *, report: SideEffectReport, resolved_by, note: str, now=None
) -> SideEffectReport:
    """Close a side-effect report with what was done: a report closed without a word leaves
    the next colleague (and the patient's record) guessing. Closed once: a second close is
    refused, never an overwrite of the first note."""
    note = note.strip()
    if not note:
        raise ValidationError("Say what was done about it.", code="note_required")
    with transaction.atomic():
        report = SideEffectReport.objects.select_for_update().get(pk=report.pk)
        if report.resolved_at:
            raise ValidationError("This report was already dealt with.", code="already_closed")
        report.resolved_at = now or timezone.now()
        report.resolved_by = resolved_by
        report.staff_note = note
        report.save(update_fields=["resolved_at", "resolved_by", "staff_note"])
    return report


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


def handle_change_request(
    *, change_request: ChangeRequest, handled_by, outcome: str, now=None
) -> ChangeRequest:
    """Close a patient's request with its outcome, in words for the patient ("Moved to
    Friday 16 April, 10:00"): the portal shows it (answered_requests), and the patient is
    sent it (treatments.signals.request_answered: the reminders outbox). Closed once; the
    database refuses a handled request without an outcome."""
    outcome = outcome.strip()
    if not outcome:
        raise ValidationError("Say what was done, in words for the patient.", code="note_required")
    with transaction.atomic():
        change_request = ChangeRequest.objects.select_for_update().get(pk=change_request.pk)
        if change_request.handled_at:
            raise ValidationError("This request was already handled.", code="already_closed")
        change_request.handled_at = now or timezone.now()
        change_request.handled_by = handled_by
        change_request.outcome = outcome
        change_request.save(update_fields=["handled_at", "handled_by", "outcome"])
        signals.request_answered.send(
            sender=ChangeRequest, change_request=change_request, now=change_request.handled_at
        )
    return change_request


def answered_requests(patient: Patient, *, limit: int = 5) -> list[ChangeRequest]:
    """The patient's handled requests, newest first, with their outcome: what the portal
    shows the patient ("You asked to move … — Moved to …"). One query."""
    return list(_answered(patient).select_related("session__site")[:limit])


def _answered(patient: Patient | int):
    return ChangeRequest.objects.filter(patient=patient, handled_at__isnull=False).order_by(
        "-handled_at"
    )


def _open_and_newest(patient: Patient | int, limit: int):
    newest = _answered(patient).values("pk")[:limit]
    return ChangeRequest.objects.filter(
        Q(patient=patient, handled_at__isnull=True) | Q(pk__in=newest)
    ).select_related("session__site")


ANSWERED_SHOWN = 5

# The portal home's read, compiled once a process (the ORM spent more CPU building and
# compiling it than PostgreSQL answering it).
_OPEN_AND_NEWEST = PreparedGet(lambda patient_id: _open_and_newest(patient_id, ANSWERED_SHOWN))


def open_and_answered(
    patient: Patient, *, limit: int = ANSWERED_SHOWN
) -> tuple[set[int], list[ChangeRequest]]:
    """The sessions the patient has an open request about, and `answered_requests`: what the
    portal's home shows, in one query (the open requests and the newest handled ones)."""
    if limit == ANSWERED_SHOWN:
        rows = _OPEN_AND_NEWEST.all(patient.pk)
    else:
        rows = list(_open_and_newest(patient, limit))
    answered = [r for r in rows if r.handled_at is not None]
    answered.sort(key=lambda r: r.handled_at or r.requested_at, reverse=True)
    return {r.session_id for r in rows if r.handled_at is None}, answered
