"""Celery tasks: thin wrappers; the work is in reminders.delivery."""

import json
import logging
import os

import redis
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from treatments import waitlist
from treatments.db import history_context

from . import delivery

logger = logging.getLogger("clinic.reminders")

HEARTBEAT_KEY = "clinic:reminders:heartbeat"


@shared_task(bind=True, ignore_result=True)
def dispatch_due_reminders(self) -> dict:
    """Run by beat every minute (and nudged after a booking): deliver what is due.

    Fan-out: a first batch that comes back full means a backlog, so this task starts one
    more beside itself (which does the same), until every free worker process is draining;
    a task whose time budget ran out with rows left hands over to a fresh task instead of
    waiting for the next beat.
    """
    worker = f"{self.request.hostname or ''}/{os.getpid()}"  # which pool process, too
    # Whatever it changes is in the history as the reminders' (README, "Audit trail").
    with history_context(actor="system: reminders", worker=worker):
        counts = delivery.dispatch_due(worker=worker, on_full_batch=nudge_dispatcher)
    if counts.pop("more", 0):
        nudge_dispatcher()
    record_heartbeat(worker, counts)
    if counts["claimed"]:
        logger.info("Reminder dispatch: %s", counts)
    return counts


def record_heartbeat(worker: str, counts: dict) -> None:
    """The status page shows when a dispatcher last ran (kept in Redis, where the broker is:
    without Redis no dispatcher runs anyway)."""
    value = json.dumps({"at": timezone.now().isoformat(), "worker": worker, "counts": counts})
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.set(HEARTBEAT_KEY, value, ex=7 * 24 * 3600)
    except redis.RedisError as exc:
        logger.warning("Could not record the dispatcher's heartbeat: %s", exc)


def nudge_dispatcher() -> None:
    """Ask a worker to dispatch now (after a commit), so a booking confirmation need not wait
    for the next beat. Without a broker this only logs: beat picks the reminder up later."""
    try:
        dispatch_due_reminders.apply_async(retry=False)
    except Exception as exc:  # the broker is down: the row is safe in the database
        logger.warning("Could not reach the Celery broker to dispatch now: %s", exc)


@shared_task(ignore_result=True)
def advance_waitlist() -> dict:
    """Run by beat every minute: expired waitlist offers move on to the next patient
    (treatments.waitlist.advance); the notices of new offers are then dispatched."""
    with history_context(actor="system: waitlist"):
        counts = waitlist.advance()
    if counts["offered"]:
        nudge_dispatcher()
        logger.info("Waitlist: %s", counts)
    return counts
