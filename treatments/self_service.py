"""Patients booking, moving and cancelling their own sessions from the portal.

The patient picks a start time from the slots the finder (treatments.slots.free_slots)
offers them; the booking then goes through the same services as the front desk's
(book_session, reschedule_session, cancel_session), with their checks and locks, the
patient's user as the actor. Only a time the finder offers this patient at that site is
booked, so a patient can never book a date the rules refuse (nor pick a clinician or a room:
the finder's first free one is taken).

Refusal codes, besides the booking services' own:

    slot_gone        the time is no longer offered (taken meanwhile, or never offered)
    too_late         moving or cancelling inside the clinic's notice
                     (SELF_SERVICE_NOTICE_HOURS): the patient sends a request instead
    invalid_status   the session is not the patient's, or no longer open
    already_requested  (SELF_BOOKING_NEEDS_APPROVAL) the patient already has an open request
    already_closed     the request was already booked or declined
    note_required      declining without a word for the patient

With SELF_BOOKING_NEEDS_APPROVAL on, `book_own_session` books nothing: it records a
BookingRequest for the front desk, who book it (`approve_booking_request`, through
book_session with the staff member as `booked_by`: the rules are checked again then) or
decline it with a word for the patient (`decline_booking_request`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from sites.models import Site

from . import rules, services
from .models import OPEN_STATUSES, BookingRequest, TreatmentSession
from .slots import Slot, free_slots

SELF_CANCEL_REASON = "Cancelled by the patient in the portal."


def notice() -> timedelta:
    return timedelta(hours=settings.SELF_SERVICE_NOTICE_HOURS)


def may_change_itself(session: TreatmentSession, *, now: datetime) -> bool:
    """The patient may still move or cancel this session themselves (before the notice)."""
    return session.status in OPEN_STATUSES and session.starts_at - now >= notice()


def offered_slot(
    *,
    patient: Patient,
    site: Site,
    starts_at: datetime,
    now: datetime,
    ignoring: TreatmentSession | None = None,
) -> Slot:
    """The slot the finder offers `patient` at `site` starting at `starts_at`, or
    `slot_gone`."""
    day = rules.local_day(starts_at, site.tz)
    for slot in free_slots(
        patient=patient, site=site, start_day=day, end_day=day, now=now, ignoring=ignoring
    ):
        if slot.starts_at == starts_at:
            return slot
    raise gone()


def gone() -> ValidationError:
    return ValidationError(
        _(
            "Sorry, this time is no longer free: someone else has just booked it, or it is no "
            "longer possible for you. Please choose one of the times below."
        ),
        code="slot_gone",
    )


def book_own_session(
    *,
    patient: Patient,
    site: Site,
    starts_at: datetime,
    booking_key=None,
    now: datetime | None = None,
) -> TreatmentSession | BookingRequest:
    """Book the offered slot at `starts_at` for the signed-in patient (or, when bookings
    need approval, ask the front desk to)."""
    now = now or timezone.now()
    slot = offered_slot(patient=patient, site=site, starts_at=starts_at, now=now)
    if settings.SELF_BOOKING_NEEDS_APPROVAL:
        return _request_booking(patient, slot, now=now)
    try:
        return services.book_session(
            patient=patient,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            clinician=slot.clinician,
            room=slot.room,
            booked_by=patient.user,
            booking_key=booking_key,
            notes="Booked by the patient in the portal.",
            now=now,
        )
    except ValidationError as exc:
        if _codes(exc) & {"slot_taken", "session_gap"}:
            raise gone() from exc
        raise


def move_own_session(
    *,
    patient: Patient,
    session: TreatmentSession,
    starts_at: datetime,
    now: datetime | None = None,
) -> TreatmentSession:
    """Move the patient's own session to an offered slot at its site, before the notice."""
    now = now or timezone.now()
    _check_own(patient, session, now=now)
    slot = offered_slot(
        patient=patient, site=session.site, starts_at=starts_at, now=now, ignoring=session
    )
    try:
        return services.reschedule_session(
            session=session,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            clinician=slot.clinician,
            room=slot.room,
            changed_by=patient.user,
            now=now,
        )
    except ValidationError as exc:
        if _codes(exc) & {"slot_taken", "session_gap"}:
            raise gone() from exc
        raise


def cancel_own_session(
    *, patient: Patient, session: TreatmentSession, now: datetime | None = None
) -> TreatmentSession:
    """Cancel the patient's own session, before the notice."""
    now = now or timezone.now()
    _check_own(patient, session, now=now)
    return services.cancel_session(
        session=session, reason=SELF_CANCEL_REASON, cancelled_by=patient.user, now=now
    )


def _check_own(patient: Patient, session: TreatmentSession, *, now: datetime) -> None:
    if session.patient_id != patient.pk or session.status not in OPEN_STATUSES:
        raise ValidationError(_("This session can no longer be changed."), code="invalid_status")
    if not may_change_itself(session, now=now):
        raise ValidationError(
            _(
                "Your session is less than %(hours)s hours away: please ask the clinic to move "
                "or cancel it."
            ),
            code="too_late",
            params={"hours": settings.SELF_SERVICE_NOTICE_HOURS},
        )


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors if e.code}
    return {e.code for e in exc.error_list if e.code}


def needs_approval() -> bool:
    return bool(settings.SELF_BOOKING_NEEDS_APPROVAL)


def open_request(patient: Patient) -> BookingRequest | None:
    return (
        BookingRequest.objects.filter(patient=patient, handled_at__isnull=True)
        .select_related("site")
        .first()
    )


def _request_booking(patient: Patient, slot: Slot, *, now: datetime) -> BookingRequest:
    already = ValidationError(
        "You have already asked for a session; the clinic will confirm it or contact you.",
        code="already_requested",
    )
    if open_request(patient) is not None:
        raise already
    try:
        with transaction.atomic():
            return BookingRequest.objects.create(
                patient=patient, site=slot.site, starts_at=slot.starts_at, requested_at=now
            )
    except IntegrityError as exc:  # a simultaneous second click won the race
        raise already from exc


def approve_booking_request(
    *, booking_request: BookingRequest, handled_by, now: datetime | None = None
) -> TreatmentSession:
    """Book the requested time through book_session (every rule checked again: a time taken
    meanwhile is refused with its code, and the request stays open to decline)."""
    now = now or timezone.now()
    with transaction.atomic():
        booking_request = _locked_open(booking_request)
        patient = booking_request.patient
        slot = offered_slot(
            patient=patient, site=booking_request.site, starts_at=booking_request.starts_at, now=now
        )
        session = services.book_session(
            patient=patient,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            clinician=slot.clinician,
            room=slot.room,
            booked_by=handled_by,
            notes="Requested by the patient in the portal.",
            now=now,
        )
        booking_request.handled_at = now
        booking_request.handled_by = handled_by
        booking_request.session = session
        booking_request.save(update_fields=["handled_at", "handled_by", "session"])
    return session


def decline_booking_request(
    *, booking_request: BookingRequest, handled_by, outcome: str, now: datetime | None = None
) -> BookingRequest:
    outcome = outcome.strip()
    if not outcome:
        raise ValidationError("Say why, in words for the patient.", code="note_required")
    with transaction.atomic():
        booking_request = _locked_open(booking_request)
        booking_request.handled_at = now or timezone.now()
        booking_request.handled_by = handled_by
        booking_request.outcome = outcome
        booking_request.save(update_fields=["handled_at", "handled_by", "outcome"])
    return booking_request


def _locked_open(booking_request: BookingRequest) -> BookingRequest:
    locked = (
        BookingRequest.objects.select_for_update()
        .select_related("patient", "site")
        .get(pk=booking_request.pk)
    )
    if locked.handled_at:
        raise ValidationError("This request was already handled.", code="already_closed")
    return locked
