"""Real Celery workers (separate processes) on a real Redis broker, delivering reminders.

Email goes through Django's file backend (tests.backends.SlowFileEmailBackend), so what each
worker process delivered can be counted from here: every message carries its reminder id.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.db import connection
from django.utils import timezone

from tests.conftest import TEST_REDIS_URL
from tests.factories import PatientFactory, RoomFactory, clinician
from treatments.models import DeliveryAttempt, ProtocolVersion, Reminder, ReminderState

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("reference_data"),
]

ROOT = Path(__file__).resolve().parent.parent
TASK = "treatments.tasks.dispatch_due_reminders"


def wait_for(condition, timeout=60.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False


class Workers:
    """Start and stop `celery worker` processes against the test database."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.mail = tmp / "mail"
        self.mail.mkdir()
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, *, broker: str, **env) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        full_env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": broker,
            "CLINIC_TIME_ZONE": "Europe/Berlin",
            "EMAIL_BACKEND": "tests.backends.SlowFileEmailBackend",
            "EMAIL_FILE_PATH": str(self.mail),
            "SMS_BACKEND": "treatments.channels.LocmemSmsBackend",
            **{k: str(v) for k, v in env.items()},
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "clinic",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=full_env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill takes the pool children too
        )
        self.procs.append(proc)
        wait_for(lambda: "ready." in log.read_text(), timeout=60, what=f"worker {name} ready")
        return proc

    def kill(self, proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc, signal.SIGTERM)

    def delivered(self) -> dict[int, int]:
        """How many times each reminder id was written out by any worker."""
        counts: dict[int, int] = {}
        for path in self.mail.glob("*.log"):
            for rid in re.findall(r"^X-Clinic-Reminder: (\d+)$", path.read_text(), re.M):
                counts[int(rid)] = counts.get(int(rid), 0) + 1
        return counts


@pytest.fixture
def workers(tmp_path):
    w = Workers(tmp_path)
    yield w
    w.stop_all()


@pytest.fixture
def no_quiet_hours():
    """Whenever the suite runs, the reminders it books are due at once, not next morning."""
    return ProtocolVersion.objects.create(
        name="Test: no quiet hours",
        effective_from=date(2001, 1, 1),
        quiet_hours_start=datetime.min.time(),
        quiet_hours_end=datetime.min.time(),
    )


@pytest.fixture
def test_broker():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()


def book_now(patient=None):
    from treatments import services

    doctor = clinician()
    now = timezone.now()
    starts = now + timedelta(days=30)
    return services.book_session(
        patient=patient or PatientFactory(reminders_by_sms=False),
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=RoomFactory(),
        booked_by=doctor,
        now=now,
    )


def backlog(count: int) -> list[int]:
    """A booked session's confirmation plus count-1 more due reminders (direct rows)."""
    session = book_now()
    now = timezone.now()
    Reminder.objects.bulk_create(
        Reminder(
            session=session,
            kind="booking_confirmation",
            channel="email",
            occasion=i,
            due_at=now,
            not_before=now,
            expires_at=now + timedelta(days=1),
        )
        for i in range(1, count)
    )
    ids = list(
        Reminder.objects.filter(state="pending", not_before__lte=now).values_list("pk", flat=True)
    )
    assert len(ids) == count
    return ids


def send_dispatch(broker: str):
    probe = Celery("probe", broker=broker)
    try:
        probe.send_task(TASK)
    finally:
        probe.close()


def test_booking_to_delivery_exactly_once(workers, test_broker, no_quiet_hours):
    workers.start("w1", broker=test_broker)
    session = book_now()  # on commit, the booking nudges the dispatcher through Redis
    confirmation = Reminder.objects.get(session=session, kind="booking_confirmation")
    wait_for(
        lambda: Reminder.objects.get(pk=confirmation.pk).state == ReminderState.SENT,
        what="the booking confirmation to be sent",
    )
    # More dispatch runs (as beat would send) do not send it again.
    send_dispatch(test_broker)
    send_dispatch(test_broker)
    time.sleep(2)
    assert workers.delivered() == {confirmation.pk: 1}
    attempts = DeliveryAttempt.objects.filter(reminder=confirmation)
    assert [(a.succeeded, a.worker.startswith("w1@")) for a in attempts] == [(True, True)]
    text = next(workers.mail.glob("*.log")).read_text()
    assert f"Subject: Your session on {session.starts_at.astimezone(session.patient.tz):%A}" in text


def test_two_workers_share_a_backlog_and_send_each_once(workers, test_broker, no_quiet_hours):
    ids = backlog(200)
    env = {"REMINDER_BATCH_SIZE": 10, "SLOW_SEND_SECONDS": 0.02}
    workers.start("w1", broker=test_broker, **env)
    workers.start("w2", broker=test_broker, **env)
    redis.Redis.from_url(test_broker).delete("celery")  # the booking's nudge: start level
    send_dispatch(test_broker)
    send_dispatch(test_broker)
    wait_for(
        lambda: Reminder.objects.filter(pk__in=ids, state="sent").count() == len(ids),
        what="the backlog to be sent",
    )
    assert workers.delivered() == {pk: 1 for pk in ids}
    ok = DeliveryAttempt.objects.filter(reminder_id__in=ids, succeeded=True)
    assert ok.count() == len(ids)
    by_worker = {w.split("@")[0] for w in ok.values_list("worker", flat=True)}
    assert by_worker == {"w1", "w2"}


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, so it can be killed and restarted."""
    if not shutil.which("redis-server"):
        pytest.fail(
            "redis-server is not installed; the restart test needs it: apt-get install redis-server"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"

    class Server:
        proc = None

        def start(self):
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp_path),
                ],
                stdout=subprocess.DEVNULL,
            )
            client = redis.Redis.from_url(url)

            def answers():
                try:
                    return client.ping()
                except redis.ConnectionError:
                    return False

            wait_for(answers, timeout=20, what="private redis")

        def kill(self):
            self.proc.kill()
            self.proc.wait()

    server = Server()
    server.url = url
    server.start()
    yield server
    server.kill()


def test_worker_killed_mid_batch_and_redis_restarted_loses_nothing_sends_nothing_twice(
    workers, private_redis, no_quiet_hours
):
    ids = backlog(30)
    lease = 4
    # The first worker hangs inside its first send, holding a claimed batch of 10.
    w1 = workers.start(
        "w1",
        broker=private_redis.url,
        SLOW_SEND_SECONDS=120,
        REMINDER_BATCH_SIZE=10,
        REMINDER_LEASE_SECONDS=lease,
    )
    send_dispatch(private_redis.url)
    wait_for(lambda: any(workers.mail.glob("sending-*")), what="w1 to start sending")
    leased = Reminder.objects.filter(pk__in=ids, lease_token__isnull=False)
    assert leased.count() == 10
    assert not Reminder.objects.filter(pk__in=ids, state="sent").exists()

    workers.kill(w1)  # SIGKILL: no chance to clean up
    private_redis.kill()  # and the broker goes down, losing every queued task...
    private_redis.start()  # ...and comes back empty

    workers.start(
        "w2", broker=private_redis.url, REMINDER_BATCH_SIZE=10, REMINDER_LEASE_SECONDS=lease
    )

    def beat_until_all_sent():
        send_dispatch(private_redis.url)  # what beat does every minute
        return Reminder.objects.filter(pk__in=ids, state="sent").count() == len(ids)

    wait_for(beat_until_all_sent, timeout=90, interval=1.0, what="every reminder to be sent")
    assert workers.delivered() == {pk: 1 for pk in ids}
    attempts = DeliveryAttempt.objects.filter(reminder_id__in=ids)
    assert attempts.count() == len(ids) and all(a.succeeded for a in attempts)
    assert {a.worker.split("@")[0] for a in attempts} == {"w2"}
