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
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.models import Patient
from sites.models import Site

from . import rules, services
from .models import OPEN_STATUSES, TreatmentSession
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
        "Sorry, this time is no longer free: someone else has just booked it, or it is no "
        "longer possible for you. Please choose one of the times below.",
        code="slot_gone",
    )


def book_own_session(
    *,
    patient: Patient,
    site: Site,
    starts_at: datetime,
    booking_key=None,
    now: datetime | None = None,
) -> TreatmentSession:
    """Book the offered slot at `starts_at` for the signed-in patient."""
    now = now or timezone.now()
    slot = offered_slot(patient=patient, site=site, starts_at=starts_at, now=now)
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
        raise ValidationError("This session can no longer be changed.", code="invalid_status")
    if not may_change_itself(session, now=now):
        raise ValidationError(
            "Your session is less than %(hours)s hours away: please ask the clinic to move or "
            "cancel it.",
            code="too_late",
            params={"hours": settings.SELF_SERVICE_NOTICE_HOURS},
        )


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors if e.code}
    return {e.code for e in exc.error_list if e.code}
