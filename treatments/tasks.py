"""Celery tasks: thin wrappers; the work is in treatments.reminders."""

import logging

from celery import shared_task

from . import reminders

logger = logging.getLogger("clinic.reminders")


@shared_task(bind=True, ignore_result=True)
def dispatch_due_reminders(self) -> dict:
    """Run by beat every minute (and nudged after a booking): deliver what is due."""
    counts = reminders.dispatch_due(worker=self.request.hostname or "")
    if counts["claimed"]:
        logger.info("Reminder dispatch: %s", counts)
    return counts


def nudge_dispatcher() -> None:
    """Ask a worker to dispatch now (after a commit), so a booking confirmation need not wait
    for the next beat. Without a broker this only logs: beat picks the reminder up later."""
    try:
        dispatch_due_reminders.apply_async(retry=False)
    except Exception as exc:  # the broker is down: the row is safe in the database
        logger.warning("Could not reach the Celery broker to dispatch now: %s", exc)
