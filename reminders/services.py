"""
Planning reminders as rows: the outbox a worker delivers from (reminders.delivery).

`plan_for_session` works out the set of reminders a session should have now (from its state,
its follow-ups, the protocol's schedule and the patient's channels and consent) and
reconciles the stored rows with it: missing ones are created, pending ones get their new
times, pending ones no longer wanted are withdrawn. Sent ones are never touched: they stay in
the log. It runs inside the transaction of every treatments service that changes a session
(reminders.receivers listens to treatments.signals), so the rows commit or roll back with the
change itself. The times come from treatments.rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.models import Patient
from treatments import rules
from treatments import services as treatment_services
from treatments.models import (
    OPEN_STATUSES,
    ChangeRequest,
    FollowUp,
    FollowUpStatus,
    ProductLot,
    Recall,
    SessionStatus,
    TreatmentSession,
)

from .models import (
    ESSENTIAL_KINDS,
    ONE_OFF_KINDS,
    Channel,
    Reminder,
    ReminderKind,
    ReminderState,
)
from .tasks import nudge_dispatcher

logger = logging.getLogger("clinic.reminders")


PRE_SESSION_KINDS = ("booking_confirmation", "nsaid_stop", "day_before")


def channels_for(patient: Patient, kind: str) -> list[str]:
    """The channels a message of `kind` goes by, honouring choices, consent and opt-out.

    Non-essential messages need recorded consent and no opt-out. Essential ones (booking,
    NSAID stop, aftercare warning signs, cancellation) go by the channels the patient chose;
    where they chose none, by email, since a cancellation must reach them somehow.
    """
    essential = kind in ESSENTIAL_KINDS
    if not essential and (patient.non_essential_opt_out or not patient.contact_consent_at):
        return []
    chosen: list[str] = []
    if patient.reminders_by_email and patient.email:
        chosen.append(Channel.EMAIL)
    if patient.reminders_by_sms and patient.phone:
        chosen.append(Channel.SMS)
    if not chosen and essential and patient.email:
        chosen.append(Channel.EMAIL)
    return chosen


@dataclass(frozen=True)
class Wanted:
    kind: str
    channel: str
    follow_up: FollowUp | None
    occasion: int
    due_at: datetime
    expires_at: datetime

    @property
    def key(self):
        return (
            self.follow_up.pk if self.follow_up else None,
            self.kind,
            self.channel,
            self.occasion,
        )


def wanted_reminders(session: TreatmentSession, *, now: datetime) -> list[Wanted]:
    """The reminders the session should have at `now`, with their send times."""
    patient, terms, tz = session.patient, session.protocol.terms, session.patient.tz
    plans: list[tuple[rules.ReminderPlan, FollowUp | None, int]] = []
    if session.status in OPEN_STATUSES or session.status == SessionStatus.COMPLETED:
        for plan in rules.session_reminder_plans(
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            booked_at=session.booked_at,
            patient_tz=tz,
            terms=terms,
        ):
            if session.status == SessionStatus.COMPLETED and plan.kind in PRE_SESSION_KINDS:
                continue
            plans.append((plan, None, session.reschedule_count))
    if session.status == SessionStatus.COMPLETED:
        for follow_up in session.follow_ups.all():
            if follow_up.status == FollowUpStatus.PLANNED:
                plan = rules.follow_up_reminder_plan(follow_up.due_date, patient_tz=tz, terms=terms)
                plans.append((plan, follow_up, 0))
        plan = rules.next_session_reminder_plan(session.gap_until, patient_tz=tz, terms=terms)
        plans.append((plan, None, 0))
    wanted = []
    for plan, follow_up, occasion in plans:
        due = rules.place_reminder(
            planned=plan.planned, expires=plan.expires, now=now, tz=tz, terms=terms
        )
        if due is None:
            continue  # too late to make sense: never sent
        for channel in channels_for(patient, plan.kind):
            wanted.append(Wanted(plan.kind, channel, follow_up, occasion, due, plan.expires))
    return wanted


def plan_for_session(session: TreatmentSession, *, now: datetime) -> None:
    """Bring the session's stored reminders in line with what it should have now."""
    wanted = {w.key: w for w in wanted_reminders(session, now=now)}
    existing = {
        (r.follow_up_id, r.kind, r.channel, r.occasion): r
        for r in session.reminders.exclude(kind__in=ONE_OFF_KINDS)
    }
    to_create, to_update = [], []
    for key, w in wanted.items():
        row = existing.get(key)
        if row is None:
            to_create.append(
                Reminder(
                    session=session,
                    follow_up=w.follow_up,
                    kind=w.kind,
                    channel=w.channel,
                    occasion=w.occasion,
                    due_at=w.due_at,
                    expires_at=w.expires_at,
                    not_before=w.due_at,
                )
            )
        elif row.state in (ReminderState.PENDING, ReminderState.WITHDRAWN, ReminderState.EXPIRED):
            if row.state != ReminderState.PENDING:
                row.attempts, row.status_note = 0, ""
            row.state = ReminderState.PENDING
            row.due_at, row.expires_at, row.not_before = w.due_at, w.expires_at, w.due_at
            to_update.append(row)
        # sent and failed rows stay as they are: the log, and staff's to resend
    Reminder.objects.bulk_create(to_create)
    fields = [
        "state",
        "due_at",
        "expires_at",
        "not_before",
        "attempts",
        "status_note",
        "updated_at",
    ]
    for row in to_update:
        row.updated_at = now
    Reminder.objects.bulk_update(to_update, fields)
    stale = [r.pk for key, r in existing.items() if key not in wanted]
    _withdraw(Reminder.objects.filter(pk__in=stale), "no longer planned", now)


def plan_for_patient(patient: Patient, *, now: datetime) -> None:
    """Re-plan every live session of the patient (their channels or consent changed)."""
    sessions = TreatmentSession.objects.filter(
        patient=patient, status__in=[*OPEN_STATUSES, SessionStatus.COMPLETED]
    ).select_related("patient", "protocol")
    for session in sessions:
        plan_for_session(session, now=now)


def notify_cancellation(session: TreatmentSession, *, now: datetime) -> None:
    """One cancellation notice per channel, at once (quiet hours permitting)."""
    _send_once(
        session,
        ReminderKind.CANCELLATION,
        occasion=session.reschedule_count,
        now=now,
        expires=session.starts_at,
    )


def notify_request_answered(change_request: ChangeRequest, *, now: datetime) -> None:
    """Tell the patient what the clinic did about their move/cancel request, once per
    channel (quiet hours permitting; it stays relevant for a week). The n-th answered
    request of a session is occasion n, so each answer is its own message."""
    session = change_request.session
    answered = ChangeRequest.objects.filter(session=session, handled_at__isnull=False).count()
    _send_once(
        session,
        ReminderKind.REQUEST_ANSWERED,
        occasion=answered,
        now=now,
        expires=now + timedelta(days=7),
    )


def _send_once(session, kind: str, *, occasion: int, now: datetime, expires: datetime) -> None:
    """A one-off message (ONE_OFF_KINDS) per channel, due now or after the patient's quiet
    hours; the row's uniqueness makes a second call for the same occasion a no-op."""
    due = rules.place_reminder(
        planned=now, expires=expires, now=now, tz=session.patient.tz, terms=session.protocol.terms
    )
    if due is None:
        return
    for channel in channels_for(session.patient, kind):
        Reminder.objects.get_or_create(
            session=session,
            follow_up=None,
            kind=kind,
            channel=channel,
            occasion=occasion,
            defaults={"due_at": due, "expires_at": expires, "not_before": due},
        )


# A recall notice stays worth sending for this long (then staff phone whoever it missed).
RECALL_NOTICE_DAYS = 30


def start_recall(*, lot: ProductLot, message: str, actor, now: datetime | None = None) -> Recall:
    """Recall a lot: it is refused from now on, and every patient who received a vial of it
    gets one ESSENTIAL notice per channel they chose (sent even to those who opted out of
    other messages; by email where they chose none), through the outbox.

    Idempotent: the lot's row lock makes a second start (another browser, a double click)
    wait for the first and then find its rows; (recipient, channel) is unique, so nobody is
    ever queued twice. A start after new recipients appeared (an amended record) adds
    their notices only. The admin's `message` keeps the text of the first start."""
    now = now or timezone.now()
    with transaction.atomic():
        recall, recipients = treatment_services.open_recall(
            lot=lot, message=message, actor=actor, now=now
        )
        expires = now + timedelta(days=RECALL_NOTICE_DAYS)
        notices = []
        for recipient in recipients:
            session = recipient.session
            due = rules.place_reminder(
                planned=now,
                expires=expires,
                now=now,
                tz=recipient.patient.tz,
                terms=session.protocol.terms,
            )
            for channel in channels_for(recipient.patient, ReminderKind.RECALL):
                notices.append(
                    Reminder(
                        session=session,
                        recall_recipient=recipient,
                        kind=ReminderKind.RECALL,
                        channel=channel,
                        due_at=due or now,
                        expires_at=expires,
                        not_before=due or now,
                    )
                )
        # The unique (recipient, channel) drops what a first start already queued.
        Reminder.objects.bulk_create(notices, ignore_conflicts=True, batch_size=1000)
        transaction.on_commit(nudge_dispatcher)  # out now, not at the next beat
    return recall


def _withdraw(queryset, note: str, now: datetime) -> int:
    return queryset.filter(state=ReminderState.PENDING).update(
        state=ReminderState.WITHDRAWN, status_note=note, updated_at=now
    )


def resend(reminder: Reminder, *, by, now: datetime | None = None) -> Reminder:
    """Staff send a failed reminder once more, unless its moment has passed."""
    now = now or timezone.now()
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
        if reminder.state != ReminderState.FAILED:
            raise ValidationError("Only a failed reminder can be resent.", code="invalid_status")
        if now >= reminder.expires_at:
            raise ValidationError(
                "This reminder is no longer relevant (its moment has passed).",
                code="reminder_expired",
            )
        reminder.state = ReminderState.PENDING
        reminder.attempts = 0
        reminder.not_before = now
        reminder.leased_until = None
        reminder.status_note = f"resent by {by}"
        reminder.save()
    return reminder
