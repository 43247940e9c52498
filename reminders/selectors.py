"""Reads of the outbox for staff pages and monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from accounts.prepared import (
    PreparedCount,
    PreparedGet,
    PreparedValues,
    prefetched,
    sliced,
    values_by_ids,
)
from patients.models import Patient
from treatments.models import Recall, RecallContact, RecallRecipient

from .models import DeliveryAttempt, InboundKind, InboundMessage, Reminder, ReminderState


def _to(patient_id: int) -> tuple[QuerySet[Reminder], QuerySet[Reminder]]:
    """The reminders that go to the patient, as two reads to be combined with a UNION: those
    about their sessions, and those about their waitlist offers (which have no session):
    disjoint, as `Reminder.patient` tells who a reminder goes to, so `UNION ALL`.
    `session__patient=… OR waitlist_offer__patient=…` joins both tables and filters after
    the joins, which PostgreSQL can only answer by reading the whole reminders table (3 s a
    patient page at 100,000 patients, `make bench`); so was `pk IN (a UNION b)` at 1,000
    patients, where the planner guessed hundreds of rows per offer and read the 22,000-row
    table whole to join its keys (7 ms of a 9 ms page). Each branch on its own is an
    indexed read of the patient's few rows, whatever the table's size."""
    about_sessions = Reminder.objects.filter(session__patient_id=patient_id).order_by()
    about_offers = Reminder.objects.filter(
        session__isnull=True, waitlist_offer__patient_id=patient_id
    ).order_by()
    return about_sessions, about_offers


# The patient page shows the newest reminders, the message log every one.
REMINDERS_SHOWN = 100


def _newest_to(patient_id):
    about_sessions, about_offers = _to(patient_id)
    newest = about_sessions.union(about_offers, all=True).order_by("-due_at", "-id")
    return newest[:REMINDERS_SHOWN]


def _attempts_to(patient_id):
    """The delivery attempts of the patient's reminders (both branches of `_to`), in
    DeliveryAttempt's own order, as a prefetch of `deliveries` reads them."""
    return (
        DeliveryAttempt.objects.filter(reminder__session__patient_id=patient_id)
        .order_by()
        .union(
            DeliveryAttempt.objects.filter(
                reminder__session__isnull=True, reminder__waitlist_offer__patient_id=patient_id
            ).order_by(),
            all=True,
        )
        .order_by("attempted_at", "id")
    )


# Read on every patient page: compiled once a process (accounts.prepared); building and
# compiling the UNION and the prefetch's query was a sixth of the page's CPU.
_NEWEST_TO = PreparedGet(_newest_to)
_ATTEMPTS_TO = PreparedGet(_attempts_to)


def for_patient(patient: Patient, *, limit: int = REMINDERS_SHOWN) -> list[Reminder]:
    """The patient's newest reminders (at most REMINDERS_SHOWN) with their delivery
    attempts (the patient page): two statements, whatever the number of reminders. The
    attempts read are all the patient's (a few per reminder), those of reminders not shown
    left out here."""
    reminders = _NEWEST_TO.all(patient.pk)[:limit]
    if reminders:
        shown = {reminder.pk for reminder in reminders}
        attempts = [a for a in _ATTEMPTS_TO.all(patient.pk) if a.reminder_id in shown]
        prefetched(reminders, "deliveries", attempts, "reminder_id")
    return reminders


@dataclass(slots=True)
class ReminderRow:
    """What the patient page shows of a reminder (`for_patient_rows`), not a model
    instance; `row` is its table row, written by the page."""

    pk: int
    kind: str
    channel: str
    state: str
    due_at: datetime
    status_note: str
    deliveries: list[AttemptRow]
    row: str = ""


@dataclass(slots=True, frozen=True)
class AttemptRow:
    attempted_at: datetime
    succeeded: bool
    error: str


_REMINDER_FIELDS = ("id", "kind", "channel", "state", "due_at", "status_note")
_ATTEMPT_FIELDS = ("reminder_id", "attempted_at", "succeeded", "error")


def for_patient_rows(patient_id: int, *, limit: int = REMINDERS_SHOWN) -> list[ReminderRow]:
    """`for_patient`'s reminders and their attempts as rows of the fields the patient page
    shows, read by the same two statements: making a Reminder and a DeliveryAttempt
    instance for each row, and a related manager for each reminder's attempts, was a sixth
    of the page's Python calls. Where the ORM reads (SQLite), from its instances."""
    found = _NEWEST_TO.rows(patient_id)[:limit]
    if not found:
        return []
    attempts = _ATTEMPTS_TO.rows(patient_id)
    if isinstance(found[0], Reminder):  # read by the ORM
        reminder_rows = [[getattr(r, name) for name in _REMINDER_FIELDS] for r in found]
        attempt_rows = [[getattr(a, name) for name in _ATTEMPT_FIELDS] for a in attempts]
    else:
        at = _NEWEST_TO.positions()
        reminder_rows = [[row[at[name]] for name in _REMINDER_FIELDS] for row in found]
        at = _ATTEMPTS_TO.positions()
        attempt_rows = [[row[at[name]] for name in _ATTEMPT_FIELDS] for row in attempts]
    reminders = [
        ReminderRow(pk, kind, channel, state, due_at, note, [])
        for pk, kind, channel, state, due_at, note in reminder_rows
    ]
    by_id = {r.pk: r.deliveries for r in reminders}
    for reminder_id, attempted_at, succeeded, error in attempt_rows:
        shown = by_id.get(reminder_id)
        if shown is not None:
            shown.append(AttemptRow(attempted_at, succeeded, error))
    return reminders


def failed_reminders():
    return (
        Reminder.objects.filter(state=ReminderState.FAILED)
        .select_related("session__patient", "waitlist_offer__patient")
        .order_by("-updated_at", "-id")
    )


def delivery_status(*, now: datetime) -> dict:
    """What staff and monitoring watch: the backlog and failures (reads only)."""
    pending = Reminder.objects.filter(state=ReminderState.PENDING, not_before__lte=now)
    oldest = pending.order_by("not_before").values_list("not_before", flat=True).first()
    return {
        "due_unsent": pending.count(),
        "oldest_due_at": oldest,
        "oldest_due_seconds": int((now - oldest).total_seconds()) if oldest else 0,
        "retrying": pending.filter(attempts__gt=0).count(),
        "failed": Reminder.objects.filter(state=ReminderState.FAILED).count(),
    }


# --- Recalls --------------------------------------------------------------------------------


@dataclass
class RecallRow:
    """One patient of a recall and how far the recall has reached them."""

    recipient: RecallRecipient
    sent: int
    failed: int
    pending: int

    @property
    def reached(self) -> bool:
        return self.sent > 0 or self.recipient.contact == RecallContact.PHONED

    @property
    def outcome(self) -> str:
        """What the report's status column says (the strongest fact first)."""
        if self.recipient.contact == RecallContact.PHONED:
            return "phoned"
        if self.sent:
            return "sent"
        if self.recipient.contact == RecallContact.UNREACHABLE:
            return "unreachable"
        if self.failed and not self.pending:
            return "failed"
        return "not yet reached"


RECALL_COUNTS = ("recipients", "sent", "failed", "phoned", "unreachable", "not_reached")


def recall_report(recall: Recall) -> tuple[list[RecallRow], dict[str, int]]:
    """Every recipient with their notices counted by state (one query), and the counts the
    report heads with: recipients; sent (a notice went out on at least one channel); failed
    (no notice sent, and every one given up on or expired); phoned and unreachable (recorded
    by staff); not yet reached (neither a notice sent nor a call answered)."""
    gone = [ReminderState.FAILED, ReminderState.EXPIRED, ReminderState.WITHDRAWN]
    recipients = (
        recall.recipients.select_related("patient", "contact_by")
        .annotate(
            n_sent=Count("notices", filter=Q(notices__state=ReminderState.SENT)),
            n_failed=Count("notices", filter=Q(notices__state__in=gone)),
            n_pending=Count("notices", filter=Q(notices__state=ReminderState.PENDING)),
        )
        .order_by("patient__last_name", "patient__first_name", "id")
    )
    rows = [RecallRow(r, r.n_sent, r.n_failed, r.n_pending) for r in recipients]
    counts = dict.fromkeys(RECALL_COUNTS, 0)
    counts["recipients"] = len(rows)
    for row in rows:
        counts["sent"] += row.sent > 0
        counts["failed"] += row.sent == 0 and row.failed > 0 and row.pending == 0
        counts["phoned"] += row.recipient.contact == RecallContact.PHONED
        counts["unreachable"] += row.recipient.contact == RecallContact.UNREACHABLE
        counts["not_reached"] += not row.reached
    return rows, counts


# --- SMS replies and the message log -------------------------------------------------------


def unread_inbox_count() -> int:
    """Messages for the front desk nobody has read yet (the partial index inbound_unread_idx).
    Every staff page's menu shows it: its SQL is compiled once per process."""
    return _UNREAD.count()


_UNREAD = PreparedCount(
    lambda: InboundMessage.objects.filter(kind=InboundKind.MESSAGE, read_at__isnull=True)
)


def inbox():
    """Every SMS received, newest first, unread messages for the front desk first."""
    return InboundMessage.objects.select_related("patient", "read_by").order_by(
        "-received_at", "-id"
    )


@dataclass
class LogEntry:
    at: datetime
    reminder: Reminder | None = None
    inbound: InboundMessage | None = None


def _log_keys(patient_id: int):
    """The log's entries, newest first, as (at, source, key): "out" a reminder's id, "in" a
    received SMS's."""
    about_sessions, about_offers = (
        branch.annotate(
            at=Coalesce("sent_at", "due_at"), source=Value("out"), key=F("id")
        ).values_list("at", "source", "key")
        for branch in _to(patient_id)
    )
    incoming = (
        InboundMessage.objects.filter(patient_id=patient_id)
        .order_by()  # a part of a UNION has no order of its own (SQLite refuses one)
        .annotate(at=F("received_at"), source=Value("in"), key=F("id"))
        .values_list("at", "source", "key")
    )
    return about_sessions.union(about_offers, incoming, all=True).order_by("-at", "-key")


def message_log(patient: Patient, *, offset: int, limit: int) -> list[LogEntry]:
    """Every reminder sent (or planned) to the patient and every SMS received from them,
    newest first, `limit` of them from `offset`: one UNION for the keys, then one read of
    each kind (and the reminders' delivery attempts), whatever the number of messages.
    As model instances (the page reads `message_log_rows`)."""
    rows = list(_log_keys(patient.pk)[offset : offset + limit])
    out_ids = [key for _, source, key in rows if source == "out"]
    in_ids = [key for _, source, key in rows if source == "in"]
    reminders = (
        Reminder.objects.filter(pk__in=out_ids)
        .select_related("follow_up")
        .prefetch_related("deliveries")
        .in_bulk()
        if out_ids
        else {}
    )
    inbound = InboundMessage.objects.in_bulk(in_ids) if in_ids else {}
    return [
        LogEntry(at, reminder=reminders.get(key))
        if source == "out"
        else LogEntry(at, inbound=inbound.get(key))
        for at, source, key in rows
    ]


# What the message log shows of each kind (frontdesk.views.messages writes its rows).
LOG_REMINDER = (
    "id",
    "kind",
    "channel",
    "state",
    "status_note",
    "delivery_status",
    "delivered_at",
    "provider_message_id",
)
LOG_ATTEMPT = ("reminder_id", "attempted_at", "succeeded", "error")
LOG_INBOUND = ("id", "body", "kind", "outcome", "read_at", "provider_message_id")


@dataclass
class LogRow:
    """An entry of the message log as values: `reminder` (LOG_REMINDER, and "deliveries":
    its attempts, LOG_ATTEMPT, in DeliveryAttempt's order) or `inbound` (LOG_INBOUND)."""

    at: datetime
    reminder: dict[str, Any] | None = None
    inbound: dict[str, Any] | None = None


def message_log_rows(patient_id: int, *, offset: int, limit: int) -> list[LogRow]:
    """`message_log` as values, from statements compiled once a process (the same reads:
    the UNION's page of keys, the reminders, their attempts, the received SMS): building and
    compiling the four querysets cost the page more CPU than anything else it did."""
    keys = _log_page(offset, limit).tuples(patient_id=patient_id)
    out_ids = list(dict.fromkeys(key for _, source, key in keys if source == "out"))
    in_ids = list(dict.fromkeys(key for _, source, key in keys if source == "in"))
    reminders = {row["id"]: row for row in values_by_ids(_log_reminders, out_ids)}
    for reminder in reminders.values():
        reminder["deliveries"] = []
    for attempt in values_by_ids(_log_attempts, out_ids):
        reminders[attempt["reminder_id"]]["deliveries"].append(attempt)
    inbound = {row["id"]: row for row in values_by_ids(_log_inbound, in_ids)}
    return [
        LogRow(at, reminder=reminders.get(key))
        if source == "out"
        else LogRow(at, inbound=inbound.get(key))
        for at, source, key in keys
    ]


def _log_page(offset: int, limit: int) -> PreparedValues:
    """The UNION's page of keys (accounts.prepared.sliced: a statement a page)."""
    return sliced(_log_keys, offset, offset + limit, patient_id=int)


def _log_reminders(ids: list[int]):
    return Reminder.objects.filter(pk__in=ids).order_by().values(*LOG_REMINDER)


def _log_attempts(ids: list[int]):
    return DeliveryAttempt.objects.filter(reminder_id__in=ids).values(*LOG_ATTEMPT)


def _log_inbound(ids: list[int]):
    return InboundMessage.objects.filter(pk__in=ids).order_by().values(*LOG_INBOUND)
