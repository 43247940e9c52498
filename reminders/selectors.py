"""Reads of the outbox for staff pages and monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Value
from django.db.models.functions import Coalesce

from patients.models import Patient

from .models import InboundKind, InboundMessage, Reminder, ReminderState


def for_patient(patient: Patient, *, limit: int = 100) -> list[Reminder]:
    """The patient's newest reminders with their delivery attempts (the patient page)."""
    return list(
        Reminder.objects.filter(session__patient=patient)
        .select_related("follow_up")
        .prefetch_related("deliveries")
        .order_by("-due_at", "-id")[:limit]
    )


def failed_reminders():
    return (
        Reminder.objects.filter(state=ReminderState.FAILED)
        .select_related("session__patient")
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


# --- SMS replies and the message log -------------------------------------------------------


def unread_inbox_count() -> int:
    """Messages for the front desk nobody has read yet (the partial index inbound_unread_idx)."""
    return InboundMessage.objects.filter(kind=InboundKind.MESSAGE, read_at__isnull=True).count()


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


def message_log(patient: Patient, *, offset: int, limit: int) -> list[LogEntry]:
    """Every reminder sent (or planned) to the patient and every SMS received from them,
    newest first, `limit` of them from `offset`: one UNION for the keys, then one read of
    each kind (and the reminders' delivery attempts), whatever the number of messages."""
    outgoing = (
        Reminder.objects.filter(session__patient=patient)
        .annotate(at=Coalesce("sent_at", "due_at"), source=Value("out"), key=F("id"))
        .values_list("at", "source", "key")
    )
    incoming = (
        InboundMessage.objects.filter(patient=patient)
        .annotate(at=F("received_at"), source=Value("in"), key=F("id"))
        .values_list("at", "source", "key")
    )
    union = outgoing.union(incoming, all=True).order_by("-at", "-key")
    rows = list(union[offset : offset + limit])
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
