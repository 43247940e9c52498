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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from patients.models import Patient
from patients.services import set_sms_reminders
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
from treatments.services import record_patient_confirmation

from .models import (
    ESSENTIAL_KINDS,
    ONE_OFF_KINDS,
    Channel,
    DeliveryStatus,
    DeliveryStatusEvent,
    InboundKind,
    InboundMessage,
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


def plan_for_session(session: TreatmentSession, *, now: datetime, created: bool = False) -> None:
    """Bring the session's stored reminders in line with what it should have now.
    `created`: the session was just booked, so it has none to read."""
    wanted = {w.key: w for w in wanted_reminders(session, now=now)}
    existing = (
        {}
        if created
        else {
            (r.follow_up_id, r.kind, r.channel, r.occasion): r
            for r in session.reminders.exclude(kind__in=ONE_OFF_KINDS)
        }
    )
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
    # (Neither sends a query without rows; building them took a booking about 400 calls.)
    if to_update:
        Reminder.objects.bulk_update(to_update, fields)
    stale = [r.pk for key, r in existing.items() if key not in wanted]
    if stale:
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


def notify_waitlist_offer(offer, *, notice_at: datetime, now: datetime) -> None:
    """The notice of a waitlist offer: one row per channel the patient chose (essential: by
    email where they chose none), due at `notice_at` (after quiet hours), never sent once the
    offer has ended (its `expires_at`). (offer, channel) is unique: a replay adds nothing."""
    for channel in channels_for(offer.patient, ReminderKind.WAITLIST_OFFER):
        Reminder.objects.get_or_create(
            waitlist_offer=offer,
            channel=channel,
            defaults={
                "session": None,
                "kind": ReminderKind.WAITLIST_OFFER,
                "due_at": notice_at,
                "expires_at": offer.expires_at,
                "not_before": notice_at,
            },
        )


def withdraw_waitlist_offer(offer, *, now: datetime) -> None:
    """An offer answered, expired or gone: its notice, if still unsent, is not sent."""
    _withdraw(
        Reminder.objects.filter(waitlist_offer=offer),
        f"withdrawn: the waitlist offer was {offer.get_status_display().lower()}",
        now,
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
        offer = reminder.waitlist_offer
        if now >= reminder.expires_at or (offer is not None and offer.status != "offered"):
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


# --- What the SMS provider tells us (reminders.webhooks) ------------------------------------

# The statuses after which a message's fate is known; a later "sent" never undoes them.
FINAL_DELIVERY_STATUSES = frozenset(
    {DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED}
)


def record_delivery_status(
    *, message_sid: str, status: str, error_code: str = "", now: datetime | None = None
) -> str:
    """One status callback: "delivered" marks the reminder delivered, "failed" and
    "undelivered" mark it failed (listed for staff, with the carrier's error code). Each
    (message, status) is processed once: a replay or a duplicate finds its event stored and
    changes nothing. Returns what happened ("delivered", "failed", "duplicate", "unknown",
    "noted")."""
    now = now or timezone.now()
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update()
            .filter(provider_message_id=message_sid)
            .exclude(provider_message_id="")
            .first()
        )
        try:
            with transaction.atomic():
                DeliveryStatusEvent.objects.create(
                    message_sid=message_sid,
                    status=status,
                    error_code=error_code,
                    reminder=reminder,
                    received_at=now,
                )
        except IntegrityError:
            return "duplicate"
        if reminder is None:
            # Unknown, or a callback faster than the worker's record of the send: kept, and
            # applied when that record is written (apply_early_statuses).
            logger.warning("SMS status %s for unknown message %s", status, message_sid)
            return "unknown"
        return _apply_status(reminder, status=status, error_code=error_code, now=now)


def _apply_status(reminder: Reminder, *, status: str, error_code: str, now: datetime) -> str:
    if status not in DeliveryStatus.values or reminder.delivery_status in (FINAL_DELIVERY_STATUSES):
        return "noted"
    reminder.delivery_status = status
    fields = ["delivery_status", "updated_at"]
    if status == DeliveryStatus.DELIVERED:
        reminder.delivered_at = now
        fields.append("delivered_at")
    elif status in FINAL_DELIVERY_STATUSES and reminder.state == ReminderState.SENT:
        reminder.state = ReminderState.FAILED
        reminder.status_note = f"the carrier reported it {status}" + (
            f" (Twilio error {error_code})" if error_code else ""
        )
        fields += ["state", "status_note"]
    reminder.save(update_fields=fields)
    return status if status in FINAL_DELIVERY_STATUSES else "noted"


def apply_early_statuses(*, reminder_id: int, message_sid: str) -> int:
    """Inside the transaction that records a send: status callbacks that arrived before it
    (stored with no reminder) now apply to it, in the order they came. Returns how many."""
    events = list(
        DeliveryStatusEvent.objects.filter(message_sid=message_sid, reminder__isnull=True).order_by(
            "received_at", "id"
        )
    )
    if not events:
        return 0
    reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
    for event in events:
        _apply_status(
            reminder, status=event.status, error_code=event.error_code, now=event.received_at
        )
    DeliveryStatusEvent.objects.filter(pk__in=[e.pk for e in events]).update(reminder=reminder)
    return len(events)


# Twilio's standard opt-out and opt-in words, and the clinic's own in German and Turkish.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "STOPP", "DUR"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
CONFIRM_WORDS = frozenset({"C", "YES"})


def classify_reply(body: str) -> str:
    """What an SMS asks for: the whole message is one keyword (case, spaces and a trailing
    full stop or exclamation mark aside), else it is a message for the front desk."""
    word = body.strip().rstrip(".!").strip().upper()
    if word in OPT_OUT_WORDS:
        return InboundKind.OPT_OUT
    if word in OPT_IN_WORDS:
        return InboundKind.OPT_IN
    if word in CONFIRM_WORDS:
        return InboundKind.CONFIRM
    return InboundKind.MESSAGE


def patient_for_number(number: str) -> Patient | None:
    """The one patient whose E.164 number is exactly `number`; None when nobody has it or
    several do (a shared number is never guessed at)."""
    if not number:
        return None
    found = list(Patient.objects.filter(phone_e164=number, merged_into__isnull=True).only("pk")[:2])
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Received:
    message: InboundMessage
    reply: str  # the SMS to answer with ("" for none)
    duplicate: bool = False


def receive_sms(
    *, message_sid: str, from_number: str, to_number: str, body: str, now: datetime | None = None
) -> Received:
    """An SMS to the clinic's number. From exactly one patient's number: STOP (and the other
    opt-out words) turns their SMS off at once and withdraws every planned SMS, START turns
    it back on, C/YES confirms their next session. Anything else, and every message from a
    number not on file or shared, is stored for the front desk's inbox. Processed once per
    MessageSid."""
    now = now or timezone.now()
    with transaction.atomic():
        existing = InboundMessage.objects.filter(provider_message_id=message_sid).first()
        if existing is not None:
            return Received(existing, "", duplicate=True)
        kind = classify_reply(body)
        patient = patient_for_number(from_number)
        reply, outcome = "", ""
        clinic = settings.CLINIC_NAME
        if patient is None:
            logger.info("SMS from a number not on file (or shared): %s", message_sid)
            outcome = "the number is not one patient's number on file: not linked"
            kind = InboundKind.MESSAGE
        elif kind == InboundKind.OPT_OUT:
            reason = f"the patient replied {body.strip().upper()!r} by SMS"
            withdrawn = _withdraw(
                Reminder.objects.filter(
                    Q(session__patient=patient) | Q(waitlist_offer__patient=patient),
                    channel=Channel.SMS,
                ),
                f"withdrawn: {reason}",
                now,
            )
            set_sms_reminders(patient=patient, enabled=False, reason=reason, now=now)
            outcome = f"SMS turned off; {withdrawn} planned SMS withdrawn"
            with translation.override(patient.language):
                reply = _(
                    "%(clinic)s: you will get no more SMS from us. Reply START to get them again."
                ) % {"clinic": clinic}
        elif kind == InboundKind.OPT_IN:
            set_sms_reminders(
                patient=patient, enabled=True, reason="the patient replied START by SMS", now=now
            )
            outcome = "SMS turned on"
            with translation.override(patient.language):
                reply = _("%(clinic)s: SMS reminders are on again. Reply STOP to end them.") % {
                    "clinic": clinic
                }
        elif kind == InboundKind.CONFIRM:
            session = record_patient_confirmation(patient=patient, now=now)
            if session is None:
                kind = InboundKind.MESSAGE
                outcome = "a confirmation, but no upcoming session to confirm"
            else:
                outcome = f"confirmed session {session.pk}"
                with translation.override(patient.language):
                    reply = _("%(clinic)s: thank you, your session is confirmed.") % {
                        "clinic": clinic
                    }
        message = InboundMessage.objects.create(
            provider_message_id=message_sid,
            from_number=from_number,
            to_number=to_number,
            body=body,
            kind=kind,
            patient=patient,
            outcome=outcome,
            received_at=now,
        )
    return Received(message, reply)


def mark_inbound_read(*, message: InboundMessage, by, now: datetime | None = None) -> bool:
    """Staff have read it (the first reader and time stay)."""
    now = now or timezone.now()
    return bool(
        InboundMessage.objects.filter(pk=message.pk, read_at__isnull=True).update(
            read_at=now, read_by=by
        )
    )
