"""/healthz (liveness: the database, and nothing said to anonymous callers beyond ok or
unavailable) and /status/ (delivery status for clinic admins and monitoring)."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from reminders.models import Reminder, ReminderState
from reminders.tasks import HEARTBEAT_KEY, record_heartbeat
from tests.conftest import TEST_REDIS_URL
from tests.factories import book

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_redis_down_does_not_fail_liveness(client, settings):
    """Pages and bookings work without Redis (reminders wait in the outbox table), so a Redis
    outage must not take web servers out of rotation."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_database_down_says_only_unavailable():
    """A real refused connection (nothing listens on port 1), in a process of its own. The
    anonymous answer names no check and no exception class."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code, r.content.decode())"
    )
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503", result.stderr
    assert json.loads(body) == {"status": "unavailable"}


def test_ping_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/ping").content == b"pong"


class TestStatusPage:
    @pytest.fixture(autouse=True)
    def _own_redis_db(self, settings):
        settings.REDIS_URL = TEST_REDIS_URL
        client = redis.Redis.from_url(TEST_REDIS_URL)
        client.delete(HEARTBEAT_KEY)
        yield
        client.delete(HEARTBEAT_KEY)

    def test_only_clinic_admins(self, client, staff_client, clinician_client, clinic_admin_client):
        assert client.get("/status/").status_code == 302  # to sign in
        assert staff_client.get("/status/").status_code == 403
        assert clinician_client.get("/status/").status_code == 403
        assert clinic_admin_client.get("/status/").status_code == 200
        assert clinic_admin_client.get("/status/?format=json").status_code == 200
        # Clinic admins find it in the navigation; the front desk is not shown the link.
        assert 'href="/status/"' in clinic_admin_client.get("/schedule/").content.decode()
        assert 'href="/status/"' not in staff_client.get("/schedule/").content.decode()

    def test_all_well(self, clinic_admin_client):
        record_heartbeat("w1@host", {"claimed": 0})
        data = clinic_admin_client.get("/status/?format=json").json()
        assert data["redis"] == "ok" and data["database"] == "ok"
        assert data["heartbeat_worker"] == "w1@host"
        assert 0 <= data["heartbeat_age_seconds"] < 5
        assert (data["due_unsent"], data["failed"], data["problems"]) == (0, 0, [])
        assert "keeping up" in clinic_admin_client.get("/status/").content.decode()

    def test_backlog_failures_silent_dispatcher_and_redis_down_are_shown(
        self, clinic_admin_client, settings, frozen
    ):
        session = book()  # its confirmation is due now
        confirmation = Reminder.objects.get(session=session, kind="booking_confirmation")
        Reminder.objects.filter(pk=confirmation.pk).update(
            not_before=frozen - timedelta(minutes=30), attempts=2
        )
        Reminder.objects.filter(session=session, kind="nsaid_stop").update(
            state=ReminderState.FAILED
        )
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        data = clinic_admin_client.get("/status/?format=json").json()
        assert data["redis"] == "failed: ConnectionError"
        assert data["due_unsent"] == 1 and data["retrying"] == 1 and data["failed"] == 1
        assert data["oldest_due_seconds"] == 30 * 60
        assert data["heartbeat_at"] is None
        assert len(data["problems"]) == 4
        page = clinic_admin_client.get("/status/").content.decode()
        assert "Redis (the task broker) does not answer" in page
        assert "No reminder dispatcher has run recently" in page

    def test_a_stale_heartbeat_is_a_problem(self, clinic_admin_client, settings, frozen):
        import time_machine

        with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=False):
            record_heartbeat("w1@host", {"claimed": 0})
        data = clinic_admin_client.get("/status/?format=json").json()
        assert data["heartbeat_age_seconds"] == 600
        assert data["problems"] == [
            "No reminder dispatcher has run recently (worker or beat down)."
        ]
