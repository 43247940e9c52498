"""
Every state change of sessions and follow-ups.

Each service takes keyword arguments only, runs in one transaction and refuses with a
`django.core.exceptions.ValidationError` whose `code` is stable (views map codes to form
fields; other code may branch on them):

    session_gap            the six-month rule; the message names the earliest allowed date
    slot_taken             the clinician or the room is already booked then
    in_the_past            the session would start before now
    too_far_ahead          the session would be after patients.validators.LATEST_DAY
    invalid_times          the session would not end after it starts
    not_a_clinician        the session's clinician is not an active user in the Clinician role
    outside_hours          the site is closed then (its opening hours, a closure); only
                           refused at a site that has opening hours
    clinician_absent       the clinician is absent then, or (at a site with opening hours)
                           does not work there then
    room_out_of_service    the room is out of service then
                           (these three: unless `override_reason` says why it must be so;
                           stored on the session with who decided it)
    nsaid_window_started   short notice without the patient's no-NSAID confirmation
    nsaid_review_required  prescribed NSAID and no clinician decision on file
    intake_required        completing a session without a reviewed intake, or (a later
                           session) without the patient's reconfirmation since the previous
                           one: patients.intake.intake_problem has the rule
    lot_not_usable         expired lot, no valid safety certificate, on hold or recalled
                           (ProductLot.unusable_reason says which)
    out_of_stock           completing, amending or writing off more vials than a lot has
                           on hand (received − used − written off)
    vials_required         completing a session without recording a vial
    invalid_status         the session or follow-up is not in a state that allows this
    not_started            completing or marking no-show before the session starts
    reason_required        cancelling without a reason
    decision_required      recording an empty NSAID decision
    session_not_completed  recording a done follow-up of a session not carried out
    not_due_yet            recording a follow-up before its window (the protocol's days
                           before its due date) has begun
    invalid_seen_on        a follow-up's seen-on day before its session or after today
    not_today              checking in on another day than the session's
    already_checked_in     checking in a patient a second time (the first time stays)
    checked_in             marking a no-show a patient who was checked in
    stale_form             a booking form's one-time key was already used for another patient
    changed_meanwhile      a follow-up was recorded again since the form was opened
    reason_required        (also) amending a recorded follow-up or a completed session's
                           record without saying why
    changed_meanwhile      (also) a session's record was amended since the form was opened
    nothing_changed        an amendment of a session's record that changes nothing
    consent_required       completing a session without the patient's signed (not withdrawn)
                           treatment consent of the version current on the session's day
    photo_consent_required a photo taken or shared without the patient's photo consent
    invalid_message        a recall message with a placeholder other than {product}/{lot}
    busy                   a row it must change stayed locked (STAFF_LOCK_TIMEOUT_SECONDS):
                           try again in a moment
    storage_unavailable    the file store (a bucket, the disk) did not take a photo: nothing
                           was recorded, try again in a moment

Findings of a follow-up (done, notes, measurements, photos, sharing) need the
`treatments.record_findings` permission, as completing a session needs the clinician's:
without it the services raise `PermissionDenied`.

PostgreSQL constraints hold the gap and the double-booking rules too; should a concurrent
write slip past a check here, the constraint error is turned into the same coded error.
The arithmetic comes from treatments.rules; this module only asks it.
"""

from __future__ import annotations

import logging
import string
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, Max, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from accounts import roles
from accounts.prepared import PreparedValues
from consents import services as consent_services
from consents.models import ConsentKind
from patients.intake import intake_problem
from patients.models import Patient
from patients.validators import LATEST_DAY

from . import availability, db, rules, signals
from . import photos as photo_files
from .db import (
    BOOKING_KEY_CONSTRAINT,
    CLINICIAN_SLOT_CONSTRAINT,
    GAP_CONSTRAINT,
    ROOM_SLOT_CONSTRAINT,
    constraint_name,
)
from .files import STORAGE_ERRORS
from .formatting import long_date, session_at, session_time
from .models import (
    FINDING_FIELDS,
    LIVE_STATUSES,
    OPEN_STATUSES,
    FollowUp,
    FollowUpPhoto,
    FollowUpRevision,
    FollowUpStatus,
    LotStatus,
    LotStatusChange,
    LotWriteOff,
    NsaidDecision,
    ProductLot,
    ProtocolVersion,
    Recall,
    RecallContact,
    RecallRecipient,
    SessionRecordRevision,
    SessionStatus,
    SessionVial,
    TreatmentSession,
)
from .selectors import lot_recipients

logger = logging.getLogger("clinic.storage")


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_TIME_ZONE)


# --- Booking ------------------------------------------------------------------------------


@dataclass
class BookingReads:
    """What book_session read before it refused, for a caller that shows its page again (the
    staff booking page: the eligibility and the next free slots) without reading it anew:
    the protocol in force on the clinic's day of `now`, and the patient's live sessions as
    the gap rule sees them (read under the patient's lock). None: not read (refused before)."""

    protocol: ProtocolVersion | None = None
    booked: list[rules.BookedDay] | None = None


def book_session(
    *,
    patient: Patient,
    starts_at: datetime,
    ends_at: datetime,
    clinician,
    room,
    booked_by,
    nsaid_free_confirmed: bool = False,
    nsaid_decision: str = "",
    await_nsaid_decision: bool = False,
    notes: str = "",
    booking_key=None,
    override_reason: str = "",
    now: datetime | None = None,
    reads: BookingReads | None = None,
) -> TreatmentSession:
    """Book a session under the protocol version in force today, and plan its follow-ups.

    The session is at its room's site: its day (`local_date`) is on that site's clock.
    `override_reason`: book it although the site is closed, the clinician absent or the room
    out of service then; the reason and `booked_by` are stored on the session.

    `booking_key`: the form's one-time key. A second booking with the same key (a double
    click, a resubmitted form) returns the session the first one booked.

    `nsaid_free_confirmed`: at short notice (the NSAID window has already begun), staff
    record that the patient confirmed taking no NSAID since the window's first day.
    `nsaid_decision`: for a patient on a prescribed NSAID, the clinician's decision, recorded
    now by `booked_by` (who must be allowed to record it).
    `await_nsaid_decision`: at short notice, for a patient on a prescribed NSAID, the front
    desk books while the clinician's decision is still awaited; the session shows it, and
    completing it is refused until a clinician records the decision.

    `reads`: filled with what was read (BookingReads), for the caller to show after a refusal.
    """
    now = now or timezone.now()
    _check_times(starts_at, ends_at, now)
    protocol = ProtocolVersion.objects.in_force_on(rules.local_day(now, clinic_tz()))
    if reads is not None:
        reads.protocol = protocol
    session = TreatmentSession(
        patient=patient,
        starts_at=starts_at,
        ends_at=ends_at,
        clinician=clinician,
        room=room,
        status=SessionStatus.SCHEDULED,
        protocol=protocol,
        gap_months=protocol.gap_months,
        booked_by=booked_by,
        booked_at=now,
        notes=notes,
        booking_key=booking_key,
        site=room.site,  # read with the room (the booking form's select_related)
    )
    session.set_calendar_days(session.site.tz)
    if nsaid_decision.strip():
        _set_nsaid_decision(session, decision=nsaid_decision, clinician=booked_by, now=now)
    try:
        with transaction.atomic():
            # The patient's row lock, then the clinician's and the room's (one statement),
            # then every check on what the locks let through (one more): see _booking_checks.
            merged_into = _lock_for_booking(session)
            checks = _booking_checks(session, booking_key=booking_key)
            if reads is not None:
                reads.booked = checks["others"]
            _check_clinician(clinician, in_role=checks["is_clinician"])
            _refuse_merged(merged_into)
            if checks["key_used"]:
                return _booked_with_key(booking_key, patient)
            _check_gap(session, others=checks["others"])
            _check_slot(session, clashes=(checks["clinician_clash"], checks["room_clash"]))
            _check_availability(
                session,
                override_reason=override_reason,
                by=booked_by,
                available=checks["availability"],
            )
            _check_nsaid_notice(
                session,
                now=now,
                confirmed=nsaid_free_confirmed,
                await_decision=await_nsaid_decision,
            )
            # booking_key's uniqueness is the pre-check's and the constraint's (see below).
            # The five CHECK constraints of a session (ends after it starts, a positive gap,
            # gap_until after the day, a cancellation's reason, a completion's time) hold
            # by construction here (_check_times, the protocol's own constraint,
            # set_calendar_days, a scheduled status), and PostgreSQL enforces them on the
            # INSERT: not asked again one query (and two savepoints) each.
            session.full_clean(
                exclude=[
                    "patient",
                    "clinician",
                    "room",
                    "site",
                    "protocol",
                    "booked_by",
                    "booking_key",
                ],
                validate_constraints=False,
            )
            session.save()
            if session.nsaid_decided_at:
                _keep_nsaid_decision(session)
            _plan_follow_ups(session, new=True)
            _changed(session, now=now, created=True)
    except IntegrityError as exc:
        if booking_key and constraint_name(exc) == BOOKING_KEY_CONSTRAINT:
            return _booked_with_key(booking_key, patient)
        raise _constraint_error(exc, session) from exc
    return session


def _lock_for_booking(session: TreatmentSession) -> int | None:
    """_lock_patient's row lock, then _lock_slot_resources' clinician and room locks, in
    that order and in one statement: the advisory locks are taken in the select list of a
    query over the locked row, which PostgreSQL evaluates only once it holds the row lock.
    Returns the patient's merged_into_id (for _refuse_merged)."""
    if connection.vendor != "postgresql":
        merged_into = _lock_patient_row(session.patient)
        _lock_slot_resources(session)
        return merged_into
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT locked.merged_into_id, pg_advisory_xact_lock(%s, %s), "
            "pg_advisory_xact_lock(%s, %s) FROM (SELECT merged_into_id FROM patients_patient "
            "WHERE id = %s FOR NO KEY UPDATE) AS locked",
            [
                _CLINICIAN_LOCK,
                session.clinician_id,
                _ROOM_LOCK,
                session.room_id,
                session.patient_id,
            ],
        )
        row = cursor.fetchone()
    if row is None:  # no such patient: the INSERT will say so; the slot is still serialised
        _lock_slot_resources(session)
        return None
    return row[0]


def _booking_checks(session: TreatmentSession, *, booking_key) -> dict:
    """What book_session checks, read in one statement after its locks (a fresh snapshot in
    READ COMMITTED, so it sees every booking committed before the locks were granted):
    whether the clinician has the Clinician role, whether the booking key was used, the
    patient's live sessions (for the gap), whether the clinician or the room is taken then,
    and the site's availability that day. Other databases: one query each."""
    day = session.local_date
    slot = {
        "patient_id": session.patient_id,
        "clinician_id": session.clinician_id,
        "room_id": session.room_id,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
    }
    if connection.vendor != "postgresql":
        checks = _booking_check_querysets(booking_key=booking_key, **slot)
        return {
            "is_clinician": checks["is_clinician"].exists(),
            "key_used": bool(booking_key) and checks["key_used"].exists(),
            "others": [
                s.as_booked_day() for s in checks["others"].only("local_date", "gap_months")
            ],
            "clinician_clash": checks["clinician_clash"].exists(),
            "room_clash": checks["room_clash"].exists(),
            "availability": availability.load(session.site, day, day),
        }
    arguments = {**slot, **availability.arguments(session.site, day, day)}
    if booking_key:
        key = TreatmentSession._meta.get_field("booking_key").to_python(booking_key)
        rows = _BOOKING_CHECKS_WITH_KEY.rows(booking_key=key, **arguments)
    else:
        rows = _BOOKING_CHECKS.rows(**arguments)
    if not rows:  # no such patient: as the ORM's .get() says it
        raise Patient.DoesNotExist("Patient matching query does not exist.")
    row = rows[0]
    row["others"] = [
        rules.BookedDay(date.fromisoformat(item["day"]), item["gap"]) for item in row["others"]
    ]
    row["availability"] = availability.from_row(session.site, row)
    return row


def _booking_check_querysets(
    *, patient_id, clinician_id, room_id, starts_at, ends_at, booking_key
) -> dict:
    """The querysets of _booking_checks, by the check each answers."""
    live = TreatmentSession.objects.filter(status__in=LIVE_STATUSES)
    overlapping = db.overlapping(live, starts_at, ends_at)
    return {
        "is_clinician": Group.objects.filter(user=clinician_id, name=roles.CLINICIAN),
        "key_used": TreatmentSession.objects.filter(booking_key=booking_key),
        "others": live.filter(patient_id=patient_id),
        "clinician_clash": overlapping.filter(clinician_id=clinician_id),
        "room_clash": overlapping.filter(db.in_room(room_id)),
    }


def _booking_checks_row(*, booking_key=None, **arguments):
    """_booking_checks' one statement (PostgreSQL): a row of the patient, its checks and
    availability's arrays as columns."""
    checks = _booking_check_querysets(
        booking_key=booking_key,
        **{name: arguments[name] for name in _CHECK_ARGUMENTS},
    )
    sets = {name: arguments[name] for name in availability.ARGUMENTS}
    return (
        Patient.objects.filter(pk=arguments["patient_id"])
        .order_by()
        .values(
            is_clinician=Exists(checks["is_clinician"]),
            key_used=Exists(checks["key_used"]) if booking_key else Value(False),
            others=ArraySubquery(
                checks["others"]
                .order_by()
                .values(row=JSONObject(day="local_date", gap="gap_months"))
            ),
            clinician_clash=Exists(checks["clinician_clash"]),
            room_clash=Exists(checks["room_clash"]),
            **availability.as_annotations(**sets),
        )
    )


_CHECK_ARGUMENTS = {
    "patient_id": int,
    "clinician_id": int,
    "room_id": int,
    "starts_at": datetime,
    "ends_at": datetime,
}
# Compiled once a process (accounts.prepared): the ORM took about 2 ms of CPU to build and
# compile this statement on every booking, more than PostgreSQL spends answering it.
_BOOKING_CHECKS = PreparedValues(_booking_checks_row, **_CHECK_ARGUMENTS, **availability.ARGUMENTS)
_BOOKING_CHECKS_WITH_KEY = PreparedValues(
    _booking_checks_row, booking_key=uuid.UUID, **_CHECK_ARGUMENTS, **availability.ARGUMENTS
)


def _booked_with_key(booking_key, patient) -> TreatmentSession:
    """The same form submitted twice at once: the other submission booked it."""
    already = TreatmentSession.objects.get(booking_key=booking_key)
    if already.patient_id != patient.pk:
        raise ValidationError(
            "This booking form was already used for another patient; reload and try again.",
            code="stale_form",
        )
    return already


def reschedule_session(
    *,
    session: TreatmentSession,
    starts_at: datetime,
    ends_at: datetime,
    changed_by,
    clinician=None,
    room=None,
    nsaid_free_confirmed: bool = False,
    override_reason: str = "",
    now: datetime | None = None,
) -> TreatmentSession:
    """Move a scheduled or confirmed session; its NSAID window and planned follow-ups move too.
    A move to another room moves it to that room's site (and its clock); `override_reason`
    as for book_session.

    The session keeps its protocol version. A move into short notice needs the patient's
    no-NSAID confirmation again, for the new window.
    """
    now = now or timezone.now()
    _check_times(starts_at, ends_at, now)
    if clinician is not None:
        _check_clinician(clinician)
    try:
        with transaction.atomic():
            _wait_briefly_for_locks()
            _lock_patient(session.patient)
            session = _locked(session)
            _require_status(session, OPEN_STATUSES, "moved")
            freed = _slot_of(session)
            session.starts_at, session.ends_at = starts_at, ends_at
            session.clinician = clinician or session.clinician
            session.room = room or session.room
            session.site_id = session.room.site_id
            session.set_calendar_days(session.site.tz)
            session.nsaid_free_confirmed_at = None
            session.reschedule_count += 1  # reminders for the new date are planned afresh
            session.rescheduled_at, session.rescheduled_by = now, changed_by
            _check_gap(session)
            _lock_slot_resources(session)
            _check_slot(session)
            _check_availability(session, override_reason=override_reason, by=changed_by)
            _check_nsaid_notice(session, now=now, confirmed=nsaid_free_confirmed)
            session.full_clean(exclude=["patient", "clinician", "room", "protocol", "booked_by"])
            session.save()
            _move_follow_ups(session)
            _changed(session, now=now)
            if (freed["starts_at"], freed["ends_at"]) != (session.starts_at, session.ends_at):
                signals.slot_freed.send(sender=TreatmentSession, session=session, now=now, **freed)
    except IntegrityError as exc:
        raise _constraint_error(exc, session) from exc
    except OperationalError as exc:
        if not _lock_wait_ran_out(exc):
            raise
        raise _busy_error() from exc
    return session


def cancel_session(
    *, session: TreatmentSession, reason: str, cancelled_by, now: datetime | None = None
) -> TreatmentSession:
    """Cancel a session with a reason; it stops counting for the gap and its follow-ups end."""
    now = now or timezone.now()
    if not reason.strip():
        raise ValidationError("Say why the session is cancelled.", code="reason_required")
    try:
        with transaction.atomic():
            _wait_briefly_for_locks()
            session = _locked(session)
            _require_status(session, OPEN_STATUSES, "cancelled")
            session.status = SessionStatus.CANCELLED
            session.cancellation_reason = reason.strip()
            session.cancelled_at = now
            session.cancelled_by = cancelled_by
            session.save(
                update_fields=["status", "cancellation_reason", "cancelled_at", "cancelled_by"]
            )
            _end_planned_follow_ups(session)
            _changed(session, now=now)
            signals.session_cancelled.send(sender=TreatmentSession, session=session, now=now)
            signals.slot_freed.send(
                sender=TreatmentSession, session=session, now=now, **_slot_of(session)
            )
    except OperationalError as exc:
        if not _lock_wait_ran_out(exc):
            raise
        raise _busy_error() from exc
    return session


def check_in_session(
    *, session: TreatmentSession, checked_in_by, now: datetime | None = None
) -> TreatmentSession:
    """The patient has arrived for the session today."""
    now = now or timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_status(session, OPEN_STATUSES, "checked in")
        if session.checked_in_at:  # the first arrival time stays
            raise ValidationError(
                "The patient is already checked in (at %(at)s).",
                code="already_checked_in",
                params={"at": session_time(session.checked_in_at, session)},
            )
        if rules.local_day(now, session.site.tz) != session.local_date:
            raise ValidationError(
                "A patient can be checked in only on the day of the session.", code="not_today"
            )
        session.checked_in_at = now
        session.checked_in_by = checked_in_by
        if session.status == SessionStatus.SCHEDULED:
            session.status = SessionStatus.CONFIRMED
        session.save(update_fields=["checked_in_at", "checked_in_by", "status"])
    return session


def record_patient_confirmation(*, patient, now: datetime) -> TreatmentSession | None:
    """The patient says they will come (an SMS "C" or "YES"): their next open session not
    yet begun gets `confirmed_by_patient_at` (the first answer stays). None if there is none."""
    with transaction.atomic():
        session = (
            TreatmentSession.objects.select_for_update()
            .filter(patient=patient, status__in=OPEN_STATUSES, starts_at__gt=now)
            .order_by("starts_at")
            .first()
        )
        if session is not None and session.confirmed_by_patient_at is None:
            session.confirmed_by_patient_at = now
            session.save(update_fields=["confirmed_by_patient_at"])
    return session


def mark_follow_ups_missed(*, follow_ups, recorded_by, now: datetime | None = None) -> int:
    """Bulk "missed" from the follow-up review: only planned follow-ups already due.

    Attendance, not findings: the front desk may do it; `recorded_by` is stored on each."""
    now = now or timezone.now()
    today = rules.local_day(now, clinic_tz())
    marked = 0
    for follow_up in follow_ups:
        if follow_up.is_due_by(today):
            record_follow_up(
                follow_up=follow_up, status=FollowUpStatus.MISSED, recorded_by=recorded_by, now=now
            )
            marked += 1
    return marked


def record_nsaid_decision(
    *,
    session: TreatmentSession,
    decision: str,
    clinician,
    reason: str = "",
    now: datetime | None = None,
) -> TreatmentSession:
    """A clinician records what a patient on a prescribed NSAID does around the session, or
    revises the decision on file (with a `reason`): every version is kept as an
    NsaidDecision, the session shows the current one."""
    now = now or timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_status(session, OPEN_STATUSES, "given an NSAID decision")
        revising = bool(session.nsaid_decided_at)
        if revising and not reason.strip():
            raise ValidationError(
                "Say why the decision on file is revised.", code="reason_required"
            )
        _set_nsaid_decision(session, decision=decision, clinician=clinician, now=now)
        session.save(update_fields=["nsaid_decision", "nsaid_decided_by", "nsaid_decided_at"])
        _keep_nsaid_decision(session, reason=reason.strip() if revising else "")
    return session


def _keep_nsaid_decision(session: TreatmentSession, *, reason: str = "") -> None:
    """Append the session's current decision (just set by _set_nsaid_decision) to its
    history."""
    decided_by, decided_at = session.nsaid_decided_by, session.nsaid_decided_at
    assert decided_by is not None and decided_at is not None  # set just before
    NsaidDecision.objects.create(
        session=session,
        decision=session.nsaid_decision,
        decided_by=decided_by,
        decided_at=decided_at,
        reason=reason,
    )


def complete_session(
    *,
    session: TreatmentSession,
    vials: Sequence[tuple[ProductLot, int]],
    completed_by,
    notes: str = "",
    side_effects: str = "",
    now: datetime | None = None,
) -> TreatmentSession:
    """Record that the session was carried out, with the vial(s) used, and plan follow-ups.

    Several lines of one lot (lot A × 2 and lot A × 1) are added up into one line (3 vials):
    a recall must find every vial, so no line is ever dropped or overwritten."""
    now = now or timezone.now()
    if not completed_by.has_perm("treatments.complete_treatmentsession"):
        raise PermissionDenied("Only a clinician can complete a session.")
    if not vials:
        raise ValidationError("Record the vial(s) used in this session.", code="vials_required")
    vials = _vials_by_lot(vials)
    with transaction.atomic():
        session = _locked(session)
        _require_status(session, OPEN_STATUSES, "completed")
        if session.starts_at > now:
            raise ValidationError(
                "This session has not started yet; it can be completed from %(start)s.",
                code="not_started",
                params={"start": session_at(session)},
            )
        if session.nsaid_review_pending:  # e.g. booked while the decision was awaited
            raise ValidationError(
                "%(name)s takes a prescribed NSAID (%(drug)s): a clinician must record the "
                "decision about it before the session is completed.",
                code="nsaid_review_required",
                params={
                    "name": session.patient.full_name,
                    "drug": session.patient.prescribed_nsaid or "NSAID",
                },
            )
        problem = session_intake_problem(session)
        if problem is not None:
            raise problem
        # Nothing is injected before the patient signed the version current that day.
        consent_services.require_consent(
            session.patient, kind=ConsentKind.TREATMENT, on_day=session.local_date
        )
        # The lots are locked (after the session, in id order) so the stock and the
        # quarantine state read here are the ones the UPDATE below acts on.
        locked = _locked_lots(lot.pk for lot, _ in vials)
        for lot, count in vials:
            _check_lot_usable(locked[lot.pk], session.local_date)
            if count < 1:
                raise ValidationError("Record at least one vial per lot.", code="vials_required")
        _take_from_stock(locked, {lot.pk: count for lot, count in vials})
        for lot, count in vials:
            SessionVial.objects.update_or_create(
                session=session, lot=lot, defaults={"vials": count}
            )
        session.status = SessionStatus.COMPLETED
        session.completed_at = now
        session.completed_by = completed_by
        session.notes = notes or session.notes
        session.side_effects = side_effects
        session.record_version = 1
        session.save()
        _plan_follow_ups(session)
        _changed(session, now=now)
    return session


def session_intake_problem(session: TreatmentSession) -> ValidationError | None:
    """Why the session cannot be completed for want of the patient's intake, or None (the
    session page asks it too, so the desk sees it before the day). Three queries."""
    previous = (
        TreatmentSession.objects.filter(
            patient_id=session.patient_id, status=SessionStatus.COMPLETED
        )
        .exclude(pk=session.pk)
        .aggregate(at=Max("completed_at"))["at"]
    )
    return intake_problem(session.patient, previous_completed_at=previous)


AMEND_RECORD_PERMISSION = "treatments.amend_session_record"


def amend_session_record(
    *,
    session: TreatmentSession,
    amended_by,
    reason: str,
    expected_version: int,
    notes: str,
    side_effects: str,
    vials: Sequence[tuple[ProductLot, int]],
    now: datetime | None = None,
) -> TreatmentSession:
    """Amend what complete_session recorded (notes, side effects, the vials and their lots):
    never an overwrite. The version in force is kept as a SessionRecordRevision first (the
    first amendment also keeps the original record as version 1, by who completed it), then
    the new one is written and appended with `reason` and `amended_by`.

    The vials follow complete_session's rules: at least one, each lot usable on the session
    day, lines of one lot added up. `expected_version` is the record_version the form was
    opened on: if the record was amended since, the amendment is refused
    (`changed_meanwhile`) instead of overwriting what the user never saw. An amendment that
    changes nothing is refused (`nothing_changed`): it would only add noise to the record.
    """
    now = now or timezone.now()
    if not amended_by.has_perm(AMEND_RECORD_PERMISSION):
        raise PermissionDenied("Only a clinician can amend a session's record.")
    if not reason.strip():
        raise ValidationError("Say why the session's record is amended.", code="reason_required")
    if not vials:
        raise ValidationError("Record the vial(s) used in this session.", code="vials_required")
    vials = _vials_by_lot(vials)
    try:
        with transaction.atomic():
            _wait_briefly_for_locks()
            session = _locked(session)
            if session.status != SessionStatus.COMPLETED:
                raise ValidationError(
                    "Only a completed session's record can be amended.", code="invalid_status"
                )
            if session.record_version != expected_version:
                raise ValidationError(
                    "This session's record was amended while you had it open. Reload it to "
                    "see the current version, then amend it if needed.",
                    code="changed_meanwhile",
                )
            before = list(session.vials_used.select_related("lot").order_by("id"))
            wanted = {lot.pk: count for lot, count in vials}
            locked = _locked_lots([*wanted, *(v.lot_id for v in before)])
            # The stock follows the record: what the amendment adds is taken, what it
            # removes is given back.
            change = {pk: wanted.get(pk, 0) for pk in locked}
            for v in before:
                change[v.lot_id] -= v.vials
            # Only vials the amendment adds must come from a usable lot: a record that
            # keeps a lot recalled or put on hold since can still be corrected.
            for lot, _count in vials:
                if change[lot.pk] > 0:
                    _check_lot_usable(locked[lot.pk], session.local_date)
            if (
                notes == session.notes
                and side_effects == session.side_effects
                and wanted == {v.lot_id: v.vials for v in before}
            ):
                raise ValidationError(
                    "Nothing was changed: the record already says this.", code="nothing_changed"
                )
            version = max(session.record_version, 1)
            if not session.record_revisions.exists():
                SessionRecordRevision.objects.create(
                    session=session,
                    version=version,
                    notes=session.notes,
                    side_effects=session.side_effects,
                    vials=[_vial_as_json(v.lot, v.vials) for v in before],
                    recorded_by=session.completed_by,
                    recorded_at=session.completed_at or now,
                )
            _take_from_stock(locked, change)
            session.vials_used.exclude(lot_id__in=wanted).delete()
            for lot, count in vials:
                SessionVial.objects.update_or_create(
                    session=session, lot=lot, defaults={"vials": count}
                )
            session.notes, session.side_effects = notes, side_effects
            session.record_version = version + 1
            session.save(update_fields=["notes", "side_effects", "record_version"])
            SessionRecordRevision.objects.create(
                session=session,
                version=session.record_version,
                notes=notes,
                side_effects=side_effects,
                vials=[_vial_as_json(lot, count) for lot, count in vials],
                recorded_by=amended_by,
                recorded_at=now,
                reason=reason.strip(),
            )
    except OperationalError as exc:
        if not _lock_wait_ran_out(exc):
            raise
        raise _busy_error() from exc
    return session


def _check_lot_usable(lot: ProductLot, day: date) -> None:
    reason = lot.unusable_reason(day)
    if reason:
        raise ValidationError(
            "Lot %(lot)s cannot be used: %(reason)s.",
            code="lot_not_usable",
            params={"lot": lot.lot_number, "reason": reason},
        )


def _locked_lots(pks) -> dict[int, ProductLot]:
    """The lots, row-locked, in id order (so two sessions naming the same lots never wait
    for each other crosswise)."""
    return {
        lot.pk: lot
        for lot in ProductLot.objects.select_for_update().filter(pk__in=set(pks)).order_by("pk")
    }


def _take_from_stock(locked: dict[int, ProductLot], change: dict[int, int]) -> None:
    """Take `change[lot id]` vials from each locked lot (a negative number gives them back),
    or refuse with out_of_stock. The lot's CHECK constraint is the last word."""
    for pk, count in change.items():
        lot = locked[pk]
        if count > lot.vials_on_hand:
            raise ValidationError(
                "Lot %(lot)s has %(left)s vial(s) on hand; %(count)s cannot be taken from it.",
                code="out_of_stock",
                params={"lot": lot.lot_number, "left": lot.vials_on_hand, "count": count},
            )
        if count:
            ProductLot.objects.filter(pk=pk).update(vials_consumed=F("vials_consumed") + count)
            lot.vials_consumed += count


# --- Lots: stock, quarantine, recall -------------------------------------------------------

WRITE_OFF_PERMISSION = "treatments.write_off_productlot"
HOLD_PERMISSION = "treatments.hold_productlot"
RECALL_PERMISSION = "treatments.recall_productlot"
CONTACT_PERMISSION = "treatments.change_recallrecipient"


def write_off_vials(
    *, lot: ProductLot, vials: int, reason: str, actor, now: datetime | None = None
) -> LotWriteOff:
    """Record vials of a lot wasted or destroyed: they leave the stock (never below zero)."""
    if not actor.has_perm(WRITE_OFF_PERMISSION):
        raise PermissionDenied("Only a clinician or an admin can write off vials.")
    if not reason.strip():
        raise ValidationError("Say why the vials are written off.", code="reason_required")
    if vials < 1:
        raise ValidationError("Write off at least one vial.", code="vials_required")
    with transaction.atomic():
        locked = _locked_lots([lot.pk])
        _take_from_stock(locked, {lot.pk: vials})
        return LotWriteOff.objects.create(
            lot=locked[lot.pk],
            vials=vials,
            reason=reason.strip(),
            recorded_by=actor,
            recorded_at=now or timezone.now(),
        )


def _set_lot_status(
    lot: ProductLot, status: str, *, reason: str, actor, now: datetime
) -> LotStatusChange:
    ProductLot.objects.filter(pk=lot.pk).update(status=status, status_reason=reason)
    lot.status, lot.status_reason = status, reason
    return LotStatusChange.objects.create(
        lot=lot, status=status, reason=reason, changed_by=actor, changed_at=now
    )


def hold_lot(*, lot: ProductLot, reason: str, actor, now: datetime | None = None) -> ProductLot:
    """Quarantine: from now on the lot is refused at completion and offered nowhere."""
    return _change_lot_status(
        lot=lot,
        status=LotStatus.ON_HOLD,
        reason=reason,
        actor=actor,
        now=now,
        allowed=(LotStatus.AVAILABLE, LotStatus.RELEASED),
    )


def release_lot(*, lot: ProductLot, reason: str, actor, now: datetime | None = None) -> ProductLot:
    """End a quarantine: the lot may be used again (a recalled lot never is)."""
    return _change_lot_status(
        lot=lot,
        status=LotStatus.RELEASED,
        reason=reason,
        actor=actor,
        now=now,
        allowed=(LotStatus.ON_HOLD,),
    )


def _change_lot_status(*, lot, status, reason, actor, now, allowed) -> ProductLot:
    if not actor.has_perm(HOLD_PERMISSION):
        raise PermissionDenied("Only a clinic admin can put a lot on hold or release it.")
    if not reason.strip():
        raise ValidationError("Say why.", code="reason_required")
    with transaction.atomic():
        lot = _locked_lots([lot.pk])[lot.pk]
        if lot.status not in allowed:
            raise ValidationError(
                "The lot is %(status)s: it cannot be %(action)s.",
                code="invalid_status",
                params={
                    "status": lot.get_status_display().lower(),
                    "action": "put on hold" if status == LotStatus.ON_HOLD else "released",
                },
            )
        _set_lot_status(lot, status, reason=reason.strip(), actor=actor, now=now or timezone.now())
    return lot


RECALL_PLACEHOLDERS = frozenset({"product", "lot"})


def recall_text(message: str, lot: ProductLot) -> str:
    """The admin's message with {product} and {lot} filled in; any other placeholder (or a
    stray brace) is refused, so no text reaches a patient with a hole in it."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(message) if name is not None}
    except ValueError:
        fields = {"?"}
    if not message.strip() or fields - RECALL_PLACEHOLDERS:
        raise ValidationError(
            "Write the message to patients; the only placeholders are {product} and {lot}.",
            code="invalid_message",
        )
    return message.replace("{product}", lot.product_name).replace("{lot}", lot.lot_number)


def open_recall(
    *, lot: ProductLot, message: str, actor, now: datetime | None = None
) -> tuple[Recall, list[RecallRecipient]]:
    """The lot's side of a recall, inside the caller's transaction (reminders.services.
    start_recall adds the notices): the lot is recalled (refused from now on), its one
    Recall row exists, and every patient who received a vial of it has one RecallRecipient.
    Started again, it finds the same rows and adds only patients missing from them.
    Returns the recall and its recipients with their patients and sessions loaded."""
    if not actor.has_perm(RECALL_PERMISSION):
        raise PermissionDenied("Only a clinic admin can start a recall.")
    now = now or timezone.now()
    lot = _locked_lots([lot.pk])[lot.pk]  # two browsers at once: the second waits here
    text = recall_text(message, lot)
    recall, _created = Recall.objects.get_or_create(
        lot=lot,
        defaults={"message": message, "text": text, "started_by": actor, "started_at": now},
    )
    if lot.status != LotStatus.RECALLED:
        _set_lot_status(lot, LotStatus.RECALLED, reason="Recall started", actor=actor, now=now)
    vials = dict(SessionVial.objects.filter(lot=lot).values_list("session_id", "vials"))
    by_patient: dict[int, list[TreatmentSession]] = {}
    for session in lot_recipients(lot):
        by_patient.setdefault(session.patient_id, []).append(session)
    RecallRecipient.objects.bulk_create(
        [
            RecallRecipient(
                recall=recall,
                patient_id=patient_id,
                session=sessions[-1],
                sessions=[
                    {
                        "date": s.local_date.isoformat(),
                        "vials": vials.get(s.pk, 0),
                        "clinician": s.clinician.get_full_name() or s.clinician.username,
                    }
                    for s in sessions
                ],
            )
            for patient_id, sessions in by_patient.items()
        ],
        ignore_conflicts=True,  # (recall, patient) is unique: a second start adds nobody twice
        batch_size=1000,
    )
    recipients = list(
        recall.recipients.select_related("patient", "session__protocol", "session__patient")
    )
    return recall, recipients


def record_recall_contact(
    *,
    recipient: RecallRecipient,
    contact: str,
    note: str,
    actor,
    now: datetime | None = None,
) -> RecallRecipient:
    """Staff record by hand that they phoned the patient, or could not reach them."""
    if not actor.has_perm(CONTACT_PERMISSION):
        raise PermissionDenied("Only staff can record a recall contact.")
    if contact not in (RecallContact.PHONED, RecallContact.UNREACHABLE):
        raise ValidationError("Choose phoned or unreachable.", code="invalid")
    if not note.strip():
        raise ValidationError("Add a note (who answered, what was said).", code="reason_required")
    with transaction.atomic():
        recipient = RecallRecipient.objects.select_for_update().get(pk=recipient.pk)
        recipient.contact = contact
        recipient.contact_note = note.strip()
        recipient.contact_by = actor
        recipient.contact_at = now or timezone.now()
        recipient.save(update_fields=["contact", "contact_note", "contact_by", "contact_at"])
    return recipient


def _vial_as_json(lot: ProductLot, count: int) -> dict:
    """A vial line as a revision keeps it: the lot as it was identified then."""
    return {
        "lot_id": lot.pk,
        "lot_number": lot.lot_number,
        "product_name": lot.product_name,
        "manufacturer": lot.manufacturer,
        "expiry_date": lot.expiry_date.isoformat(),
        "vials": count,
    }


def _vials_by_lot(vials: Sequence[tuple[ProductLot, int]]) -> list[tuple[ProductLot, int]]:
    """One (lot, total vials) per lot, in the order the lots were first named."""
    for _, count in vials:
        if count is None or count < 1:
            raise ValidationError("Record at least one vial per lot.", code="vials_required")
    totals: dict[int, tuple[ProductLot, int]] = {}
    for lot, count in vials:
        _, before = totals.get(lot.pk, (lot, 0))
        totals[lot.pk] = (lot, before + count)
    return list(totals.values())


def mark_no_show(
    *, session: TreatmentSession, recorded_by, now: datetime | None = None
) -> TreatmentSession:
    """The patient did not come: the session stops counting and its follow-ups end."""
    now = now or timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_status(session, OPEN_STATUSES, "marked as a no-show")
        if session.checked_in_at:
            raise ValidationError(
                "The patient was checked in, so this is not a no-show.", code="checked_in"
            )
        if session.starts_at > now:
            raise ValidationError(
                "A session can be marked as a no-show only once it has started.",
                code="not_started",
            )
        session.status = SessionStatus.NO_SHOW
        session.no_show_recorded_at, session.no_show_recorded_by = now, recorded_by
        session.save(update_fields=["status", "no_show_recorded_at", "no_show_recorded_by"])
        _end_planned_follow_ups(session)
        _changed(session, now=now)
    return session


FINDINGS_PERMISSION = "treatments.record_findings"


def record_follow_up(
    *,
    follow_up: FollowUp,
    status: str,
    recorded_by,
    notes: str = "",
    side_effects: str = "",
    hair_density_per_cm2=None,
    shaft_thickness_um=None,
    patient_rating: int | None = None,
    shared_with_patient: bool = False,
    photos: Iterable[tuple[str, object]] = (),
    stored_photos: Sequence[FollowUpPhoto] = (),
    reason: str = "",
    expected_version: int | None = None,
    seen_on: date | None = None,
    now: datetime | None = None,
) -> FollowUp:
    """Record what happened at a follow-up: done (with findings) or missed.

    `recorded_by` is the signed-in user. Marking a planned follow-up missed (attendance) is
    front-desk work; anything clinical (done, notes, side effects, measurements, rating,
    photos, sharing with the patient) needs `treatments.record_findings`. A done follow-up
    is credited to the clinician who records it (`seen_by` is never chosen from a list, so
    nobody can put a colleague's name on their own words).

    A follow-up already recorded is never silently overwritten: changing it is an
    amendment, which needs the findings permission and a `reason`, keeps the clinician who
    saw the patient, and appends a FollowUpRevision (so every earlier version stays and is
    shown to staff; the portal shows only the current one). `expected_version` is the
    version the form was opened on: if someone recorded the follow-up since, the service
    refuses (`changed_meanwhile`) instead of overwriting what the user never saw.
    `photos` are (view, uploaded image file) pairs. `stored_photos`: photos a caller already
    wrote to the file storage (store_photos_first) before taking a lock of its own.

    A follow-up is first recorded from its window's first day (`due_from`, the protocol's
    days before its due date) on, not long before it is due (`not_due_yet`). `seen_on` is
    the day the patient was actually seen (today if not given; from the session day to
    today, else `invalid_seen_on`).
    """
    now = now or timezone.now()
    today = rules.local_day(now, clinic_tz())
    photos = list(photos)
    stored_photos = list(stored_photos)
    if status not in (FollowUpStatus.DONE, FollowUpStatus.MISSED):
        raise ValidationError("A follow-up is recorded as done or missed.", code="invalid_status")
    has_findings = status == FollowUpStatus.DONE or any(
        (
            notes.strip(),
            side_effects.strip(),
            hair_density_per_cm2 is not None,
            shaft_thickness_um is not None,
            patient_rating is not None,
            shared_with_patient,
            photos,
            stored_photos,
        )
    )
    may_record_findings = recorded_by.has_perm(FINDINGS_PERMISSION)
    if has_findings and not may_record_findings:
        raise PermissionDenied("Only a clinician can record a follow-up's findings.")
    # The photos go to the file storage (a bucket over the network, on several nodes) before
    # the follow-up's row is locked, and are removed again if the recording is refused.
    with (
        store_photos_first(photos, uploaded_by=recorded_by, uploaded_at=now) as stored,
        transaction.atomic(),
    ):
        follow_up = (
            FollowUp.objects.select_for_update(of=("self",))
            .select_related("session")
            .get(pk=follow_up.pk)
        )
        if expected_version is not None and follow_up.version != expected_version:
            raise ValidationError(
                "This follow-up was recorded again while you had it open. Reload it to see "
                "the current version, then amend it if needed.",
                code="changed_meanwhile",
            )
        amending = follow_up.status in (FollowUpStatus.DONE, FollowUpStatus.MISSED)
        if follow_up.status == FollowUpStatus.CANCELLED:
            raise ValidationError(
                "This follow-up was cancelled with its session.", code="invalid_status"
            )
        if amending:
            if not may_record_findings:
                raise PermissionDenied("Only a clinician can amend a recorded follow-up.")
            if not reason.strip():
                raise ValidationError(
                    {
                        "reason": ValidationError(
                            "Say why the recorded follow-up is amended.", code="reason_required"
                        )
                    }
                )
        if not amending and today < follow_up.due_from:
            raise ValidationError(
                "This follow-up is due on %(due)s; it can be recorded from %(first)s on.",
                code="not_due_yet",
                params={
                    "due": long_date(follow_up.due_date),
                    "first": long_date(follow_up.due_from),
                },
            )
        if status == FollowUpStatus.DONE and follow_up.session.status != SessionStatus.COMPLETED:
            raise ValidationError(
                "This follow-up belongs to a session that was not carried out.",
                code="session_not_completed",
            )
        stored = [*stored_photos, *stored]
        if stored or (shared_with_patient and follow_up.photos.exists()):
            # A photo is taken, or shown to the patient, only with their photo consent.
            consent_services.require_consent(
                follow_up.session.patient, kind=ConsentKind.PHOTO, on_day=today
            )
        if amending and not follow_up.revisions.exists():
            _keep_unrevisioned_version(follow_up)
        if status == FollowUpStatus.DONE:
            if follow_up.status != FollowUpStatus.DONE:  # the recorder saw the patient
                follow_up.seen_by, follow_up.seen_at = recorded_by, now
            follow_up.seen_on = _seen_on(seen_on or follow_up.seen_on or today, follow_up, today)
        else:
            follow_up.seen_by, follow_up.seen_at, follow_up.seen_on = None, None, None
        follow_up.status = status
        follow_up.notes = notes
        follow_up.side_effects = side_effects
        follow_up.hair_density_per_cm2 = hair_density_per_cm2
        follow_up.shaft_thickness_um = shaft_thickness_um
        follow_up.patient_rating = patient_rating
        follow_up.shared_with_patient = shared_with_patient
        follow_up.recorded_at = now
        follow_up.recorded_by = recorded_by
        follow_up.version = max(follow_up.version, _last_version(follow_up)) + 1
        follow_up.full_clean(exclude=["session", "seen_by", "recorded_by"])
        follow_up.save()
        for photo in stored:
            photo.follow_up = follow_up
            photo.save()
        _add_revision(
            follow_up,
            version=follow_up.version,
            recorded_by=recorded_by,
            recorded_at=now,
            reason=reason.strip(),
            photos_added=len(stored),
        )
        _changed(follow_up.session, now=now)
    return follow_up


@contextmanager
def store_photos_first(
    photos: list[tuple[str, object]], *, uploaded_by, uploaded_at: datetime
) -> Iterator[list[FollowUpPhoto]]:
    """Check each (view, upload) and write it, re-encoded, to the file storage: the photo
    rows (not saved yet) to create inside the transaction. Nothing slow then happens while
    the follow-up's row is locked. Should the block raise (a refusal, a rollback), the files
    written are deleted; a process killed in between leaves a file no row points at, which
    no view can serve."""
    stored: list[FollowUpPhoto] = []
    try:
        for view, image in photos:
            photo = FollowUpPhoto(
                view=view, image=image, uploaded_by=uploaded_by, uploaded_at=uploaded_at
            )
            photo.full_clean(exclude=["follow_up", "uploaded_by"])
            content = photo_files.reencode(photo.image)
            try:
                photo.image.save(content.name, content, save=False)
            except STORAGE_ERRORS as exc:
                logger.warning("Could not store a photo: %s", exc)
                raise ValidationError(
                    "The photo store is not answering; nothing was recorded. Try again in a "
                    "moment.",
                    code="storage_unavailable",
                ) from exc
            stored.append(photo)
        yield stored
    except BaseException:
        for photo in stored:
            try:
                photo.image.delete(save=False)
            except Exception:  # the store is down: an unreferenced file stays behind
                logger.warning("Could not remove the stored photo %s", photo.image.name)
        raise


def _seen_on(day: date, follow_up: FollowUp, today: date) -> date:
    if not follow_up.session.local_date <= day <= today:
        raise ValidationError(
            {
                "seen_on": ValidationError(
                    "The patient was seen between the session (%(session)s) and today.",
                    code="invalid_seen_on",
                    params={"session": long_date(follow_up.session.local_date)},
                )
            }
        )
    return day


def _last_version(follow_up: FollowUp) -> int:
    return follow_up.revisions.aggregate(last=Max("version"))["last"] or 0


def _add_revision(
    follow_up: FollowUp,
    *,
    version: int,
    recorded_by,
    recorded_at: datetime,
    reason: str = "",
    photos_added: int = 0,
) -> None:
    """Keep what the follow-up says now as one append-only version."""
    FollowUpRevision.objects.create(
        follow_up=follow_up,
        version=version,
        status=follow_up.status,
        **{name: getattr(follow_up, name) for name in FINDING_FIELDS},
        photos_added=photos_added,
        recorded_by=recorded_by,
        recorded_at=recorded_at,
        reason=reason,
    )


def _keep_unrevisioned_version(follow_up: FollowUp) -> None:
    """A follow-up recorded before versions were kept (or written in bulk): keep what it says
    as version 1 before the first amendment replaces it. Its author is unknown."""
    follow_up.version = max(follow_up.version, 1)
    _add_revision(
        follow_up,
        version=1,
        recorded_by=follow_up.recorded_by,
        recorded_at=follow_up.recorded_at or follow_up.seen_at or timezone.now(),
    )


# --- Checks -------------------------------------------------------------------------------


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise ValueError("Session times must be time-zone aware.")
    if ends_at <= starts_at:
        raise ValidationError("The session must end after it starts.", code="invalid_times")
    if starts_at < now:
        raise ValidationError(
            "That time has already passed; choose a time in the future.", code="in_the_past"
        )
    if timezone.localtime(ends_at, clinic_tz()).date() > LATEST_DAY:
        # Follow-ups and reminders are dated months after the session: keep them in range.
        raise ValidationError(
            "Choose a day up to %(last)s.",
            code="too_far_ahead",
            params={"last": f"{LATEST_DAY:%d %B %Y}"},
        )


def _check_clinician(clinician, *, in_role: bool | None = None) -> None:
    """Sessions are booked with a clinician: an active user in the Clinician role.
    `in_role`: whether they have the role, when the caller already read it."""
    if in_role is None:
        in_role = clinician.groups.filter(name=roles.CLINICIAN).exists()
    if not (clinician.is_active and in_role):
        raise ValidationError(
            "%(name)s is not a clinician; choose a clinician for the session.",
            code="not_a_clinician",
            params={"name": clinician.get_full_name() or clinician.username},
        )


def _slot_of(session: TreatmentSession) -> dict:
    """The time a session holds, as slot_freed tells it once the session lets it go."""
    return {
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "clinician_id": session.clinician_id,
        "room_id": session.room_id,
        "site_id": session.site_id,
        "occasion": session.reschedule_count,
    }


def _lock_patient(patient: Patient) -> None:
    """Serialise bookings of one patient, so the gap check sees every committed session.

    NO KEY UPDATE conflicts with itself (two bookings of one patient queue up) but not with
    the key-share locks that inserts referencing the patient take. A record merged into
    another takes no more sessions: they would escape the gap check of the kept record.
    """
    _refuse_merged(_lock_patient_row(patient))


def _lock_patient_row(patient: Patient) -> int | None:
    """_lock_patient's lock; returns the record's merged_into_id."""
    merged_into = (
        Patient.objects.select_for_update(no_key=True)
        .filter(pk=patient.pk)
        .values_list("merged_into_id", flat=True)
    )
    return merged_into[0] if merged_into else None


def _refuse_merged(merged_into: int | None) -> None:
    if merged_into:  # a duplicate merged away (treatments.merges)
        raise ValidationError(
            "This record was merged into record no. %(kept)s: book there.",
            code="patient_merged",
            params={"kept": merged_into},
        )


def _wait_briefly_for_locks() -> None:
    """In this transaction, wait at most STAFF_LOCK_TIMEOUT_SECONDS for any row lock (a
    session, its reminder rows), so a stuck writer elsewhere turns into a clear "try again"
    for staff instead of a request that hangs until the web server kills it."""
    if connection.vendor == "postgresql":
        millis = int(settings.STAFF_LOCK_TIMEOUT_SECONDS * 1000)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{millis}ms"])


def _lock_wait_ran_out(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "pgcode", None) == "55P03"  # lock_not_available


def _busy_error() -> ValidationError:
    return ValidationError(
        "This session is being changed elsewhere right now (perhaps a reminder is being "
        "sent). Nothing was changed; try again in a moment.",
        code="busy",
    )


def _locked(session: TreatmentSession) -> TreatmentSession:
    return (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("patient", "protocol", "site")
        .get(pk=session.pk)
    )


def _require_status(session: TreatmentSession, allowed, action: str) -> None:
    if session.status not in allowed:
        raise ValidationError(
            "A %(status)s session cannot be %(action)s.",
            code="invalid_status",
            params={"status": session.get_status_display().lower(), "action": action},
        )


def _other_live_sessions(session: TreatmentSession):
    qs = TreatmentSession.objects.filter(status__in=LIVE_STATUSES)
    return qs.exclude(pk=session.pk) if session.pk else qs


def _check_gap(session: TreatmentSession, *, others: list[rules.BookedDay] | None = None) -> None:
    """`others`: the patient's other live sessions, when the caller already read them."""
    if others is None:
        others = [
            s.as_booked_day()
            for s in _other_live_sessions(session)
            .filter(patient_id=session.patient_id)
            .only("local_date", "gap_months")
        ]
    conflicts = rules.gap_conflicts(
        session.local_date, gap_months=session.gap_months, others=others
    )
    if conflicts:
        raise _gap_error(session, others, conflicts)


def _gap_error(session, others, conflicts) -> ValidationError:
    earliest = rules.earliest_allowed_day(
        session.local_date, gap_months=session.gap_months, others=others
    )
    nearest = min(conflicts, key=lambda c: abs((c.day - session.local_date).days))
    return ValidationError(
        "Sessions of one patient must be at least %(months)s months apart, and this patient "
        "has a session on %(other)s. The earliest date this session can be booked is "
        "%(earliest)s.",
        code="session_gap",
        params={
            "months": session.gap_months,
            "other": long_date(nearest.day),
            "earliest": long_date(earliest),
            "earliest_date": earliest,
        },
    )


# Advisory-lock namespaces (pg_advisory_xact_lock(namespace, id)) for what a session occupies.
_CLINICIAN_LOCK, _ROOM_LOCK = 7101, 7102


def _lock_slot_resources(session: TreatmentSession) -> None:
    """Serialise the bookings and moves that claim one clinician or one room.

    Without it two transactions inserting overlapping sessions of different patients each
    wait, inside the exclusion constraints' check, for the other to finish, and PostgreSQL
    aborts one with "deadlock detected" (found by tests/test_self_booking_race.py). With it
    the second waits for the first to commit, then _check_slot refuses it (`slot_taken`).
    Always after the patient's lock, the clinician before the room: one order, no deadlock
    among the locks themselves. Released at the end of the transaction."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [_CLINICIAN_LOCK, session.clinician_id]
        )
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ROOM_LOCK, session.room_id])


def _check_slot(session: TreatmentSession, *, clashes: tuple[bool, bool] | None = None) -> None:
    """`clashes`: whether the clinician and the room are taken then, when already read."""
    if clashes is None:
        overlapping = db.overlapping(
            _other_live_sessions(session), session.starts_at, session.ends_at
        )
        clashes = (
            overlapping.filter(clinician_id=session.clinician_id).exists(),
            overlapping.filter(db.in_room(session.room_id)).exists(),
        )
    if clashes[0]:
        raise _slot_error("clinician")
    if clashes[1]:
        raise _slot_error("room")


def _check_availability(
    session: TreatmentSession,
    *,
    override_reason: str,
    by,
    available: availability.Availability | None = None,
) -> None:
    """Opening and working hours, absences, rooms out of service (treatments.availability,
    which the slot finder asks too). An override with a reason books anyway and is stored.
    `available`: the site's availability that day, when the caller already read it."""
    session.availability_override_reason, session.availability_override_by = "", None
    if available is None:
        available = availability.load(session.site, session.local_date, session.local_date)
    refusal = available.refusal(
        session.starts_at,
        session.ends_at,
        clinician_id=session.clinician_id,
        room_id=session.room_id,
    )
    if refusal is None:
        return
    if not override_reason.strip():
        raise refusal
    session.availability_override_reason = override_reason.strip()
    session.availability_override_by = by


def _slot_error(what: str) -> ValidationError:
    return ValidationError(
        "The %(what)s is already booked at that time; choose another time or %(what)s.",
        code="slot_taken",
        params={"what": what},
    )


def _check_nsaid_notice(
    session: TreatmentSession, *, now: datetime, confirmed: bool, await_decision: bool = False
) -> None:
    patient = session.patient
    terms = session.protocol.terms
    window = rules.nsaid_window(session.patient_day(), terms=terms)
    today = rules.local_day(now, patient.tz)
    if not window.has_started(today):
        return
    if patient.takes_prescribed_nsaid:
        if session.nsaid_decided_at:
            return
        if await_decision or session.nsaid_decision_awaited:
            session.nsaid_decision_awaited = True  # completing still needs the decision
            return
        raise _nsaid_review_error(patient)
    if not confirmed:
        raise ValidationError(
            "At this short notice the NSAID pause has already begun (on %(first)s). Record the "
            "patient's confirmation that they have taken no NSAID (aspirin, ibuprofen, "
            "naproxen…) since %(first)s, or choose a date on or after %(later)s.",
            code="nsaid_window_started",
            params={
                "first": long_date(window.first_day),
                "later": long_date(rules.earliest_day_without_short_notice(today, terms=terms)),
            },
        )
    session.nsaid_free_confirmed_at = now


def _nsaid_review_error(patient: Patient) -> ValidationError:
    return ValidationError(
        "%(name)s takes a prescribed NSAID (%(drug)s). A clinician must record a decision about "
        "it before this session; the patient must not simply be told to stop it. At short "
        "notice, book it as waiting for the clinician's decision.",
        code="nsaid_review_required",
        params={"name": patient.full_name, "drug": patient.prescribed_nsaid or "NSAID"},
    )


def _set_nsaid_decision(session, *, decision: str, clinician, now: datetime) -> None:
    if not clinician.has_perm("treatments.record_nsaid_decision"):
        raise PermissionDenied("Only a clinician can record a decision on a prescribed NSAID.")
    if not decision.strip():
        raise ValidationError("Write down the decision.", code="decision_required")
    session.nsaid_decision = decision.strip()
    session.nsaid_decided_by = clinician
    session.nsaid_decided_at = now


def _constraint_error(exc: IntegrityError, session: TreatmentSession) -> Exception:
    """The coded error for a constraint a concurrent write made us break; else the original."""
    name = constraint_name(exc)
    if name == GAP_CONSTRAINT:
        try:
            _check_gap(session)  # the rival is committed now: name the earliest date
        except ValidationError as gap_error:
            return gap_error
        return ValidationError(
            "Another session of this patient was booked at the same moment, too close to this "
            "one. Reload and choose another date.",
            code="session_gap",
        )
    if name == CLINICIAN_SLOT_CONSTRAINT:
        return _slot_error("clinician")
    if name == ROOM_SLOT_CONSTRAINT:
        return _slot_error("room")
    return exc


def _changed(session: TreatmentSession, *, now: datetime, created: bool = False) -> None:
    """Tell the layers above (the reminders app plans its rows) inside this transaction.
    `created`: the session was just booked (it has no reminders yet)."""
    signals.session_changed.send(sender=TreatmentSession, session=session, now=now, created=created)


# --- Follow-up planning ---------------------------------------------------------------------


def _plan_follow_ups(session: TreatmentSession, *, new: bool = False) -> None:
    """Create the follow-ups of the session's protocol plan that do not exist yet (`new`: a
    session just booked, which has none)."""
    due = rules.follow_up_due_dates(session.local_date, terms=session.protocol.terms)
    existing = set() if new else set(session.follow_ups.values_list("kind", flat=True))
    FollowUp.objects.bulk_create(
        _set_window(FollowUp(session=session, kind=kind, due_date=day), session)
        for kind, day in due.items()
        if kind not in existing
    )


def _set_window(follow_up: FollowUp, session: TreatmentSession) -> FollowUp:
    """The follow-up's due window by the session's protocol (stored, like its due date)."""
    follow_up.due_from, follow_up.due_until = rules.follow_up_window(
        follow_up.due_date,
        session_day=session.local_date,
        window_days=session.protocol.follow_up_window_days,
    )
    return follow_up


def _move_follow_ups(session: TreatmentSession) -> None:
    due = rules.follow_up_due_dates(session.local_date, terms=session.protocol.terms)
    planned = list(session.follow_ups.filter(status=FollowUpStatus.PLANNED))
    for follow_up in planned:
        follow_up.due_date = due.get(follow_up.kind, follow_up.due_date)
        _set_window(follow_up, session)
    FollowUp.objects.bulk_update(planned, ["due_date", "due_from", "due_until"])
    _plan_follow_ups(session)


def _end_planned_follow_ups(session: TreatmentSession) -> None:
    session.follow_ups.filter(status=FollowUpStatus.PLANNED).update(status=FollowUpStatus.CANCELLED)
