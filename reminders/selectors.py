"""Reads of the outbox for staff pages and monitoring."""

from __future__ import annotations

from datetime import datetime

from patients.models import Patient

from .models import Reminder, ReminderState


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
