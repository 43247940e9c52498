"""Liveness for load balancers (/healthz, /ping) and the delivery status page for staff.

/healthz answers whether this web process can serve pages: it checks the database only.
Redis carries no page or booking (a booking's reminders wait in the outbox table while Redis
is down), so a Redis outage must not take the web servers out of rotation. Anonymous callers
learn only "ok" or "unavailable": which check failed and why is for signed-in admins, on
/status/, along with what monitoring alerts on (Redis, the dispatcher's heartbeat, the
oldest due unsent reminder, failed counts).
"""

import json
from datetime import datetime

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.decorators import permission_required
from reminders import selectors as reminder_selectors
from reminders.tasks import HEARTBEAT_KEY


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is a failed check, with its reason
        return f"failed: {exc.__class__.__name__}"
    return "ok"


def _redis_client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _redis() -> tuple[str, dict | None]:
    """Redis's state and the dispatcher's last heartbeat (kept there)."""
    try:
        raw = _redis_client().get(HEARTBEAT_KEY)
    except Exception as exc:
        return f"failed: {exc.__class__.__name__}", None
    return "ok", json.loads(raw) if raw else None


@never_cache
def healthz(request):
    """Liveness: the process answers and its database does. Says nothing else."""
    healthy = _database() == "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable"}, status=200 if healthy else 503
    )


def ping(request):
    """Liveness: the process answers. Touches nothing; also the benchmark's framework ceiling."""
    return HttpResponse("pong", content_type="text/plain")


@never_cache
@permission_required("reminders.monitor_delivery")
def status(request):
    """For clinic admins (and monitoring signed in as one, `?format=json`): is delivery
    keeping up? Problems are listed; the page itself answers 200 whatever it shows."""
    now = timezone.now()
    redis_state, heartbeat = _redis()
    delivery = reminder_selectors.delivery_status(now=now)
    heartbeat_age = None
    if heartbeat:
        heartbeat_age = int((now - datetime.fromisoformat(heartbeat["at"])).total_seconds())
    problems = []
    if redis_state != "ok":
        problems.append(f"Redis (the task broker) does not answer ({redis_state}).")
    if heartbeat_age is None or heartbeat_age > settings.STATUS_HEARTBEAT_STALE_SECONDS:
        problems.append("No reminder dispatcher has run recently (worker or beat down).")
    if delivery["oldest_due_seconds"] > settings.STATUS_BACKLOG_STALE_SECONDS:
        problems.append("Due reminders are waiting longer than they should.")
    if delivery["failed"]:
        problems.append("Some reminders failed every retry.")
    data = {
        "checked_at": now.isoformat(),
        "database": "ok",
        "redis": redis_state,
        "heartbeat_at": heartbeat["at"] if heartbeat else None,
        "heartbeat_worker": heartbeat["worker"] if heartbeat else None,
        "heartbeat_age_seconds": heartbeat_age,
        **delivery,
        "oldest_due_at": delivery["oldest_due_at"].isoformat()
        if delivery["oldest_due_at"]
        else None,
        "problems": problems,
    }
    if request.GET.get("format") == "json":
        return JsonResponse(data)
    return render(request, "staff/status.html", {"status": data, "delivery": delivery})
