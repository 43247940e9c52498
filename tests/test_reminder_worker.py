"""Real Celery workers (separate processes) on a real Redis broker, delivering reminders.

Email goes through Django's file backend (tests.backends.SlowFileEmailBackend), so what each
worker process delivered can be counted from here: every message carries its reminder id.
"""

import socket
import time
from datetime import date, datetime, timedelta

import pytest
import redis
from celery import Celery
from django.db import connection
from django.utils import timezone

from reminders.models import DeliveryAttempt, Reminder, ReminderState
from tests.conftest import TEST_REDIS_URL
from tests.factories import PatientFactory, RoomFactory, clinician
from tests.workers import RedisServer, Workers, wait_for
from treatments.models import ProtocolVersion

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("reference_data"),
]

TASK = "reminders.tasks.dispatch_due_reminders"


def test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False


@pytest.fixture
def workers(tmp_path):
    w = Workers(tmp_path, database_url=test_database_url())
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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = RedisServer(port, tmp_path)
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


def test_one_dispatch_fans_out_to_every_pool_process(workers, test_broker, no_quiet_hours):
    """A backlog is drained by every free process, not by the one task beat sent: a full
    first batch starts another dispatcher beside it (each process logs its pid)."""
    ids = backlog(60)
    workers.start(
        "w1", broker=test_broker, concurrency=2, REMINDER_BATCH_SIZE=5, SLOW_SEND_SECONDS=0.05
    )
    redis.Redis.from_url(test_broker).delete("celery")  # the booking's nudge: start level
    send_dispatch(test_broker)  # one task, as beat sends once a minute
    wait_for(
        lambda: Reminder.objects.filter(pk__in=ids, state="sent").count() == len(ids),
        what="the backlog to be sent",
    )
    assert workers.delivered() == {pk: 1 for pk in ids}
    processes = set(
        DeliveryAttempt.objects.filter(reminder_id__in=ids).values_list("worker", flat=True)
    )
    assert len(processes) == 2 and all(p.startswith("w1@") for p in processes)


def test_recall_notices_are_delivered_once_each(workers, test_broker):
    """A recall started twice, dispatched again and again: each patient's notice goes out
    once per channel, by a real worker."""
    from reminders import services as reminder_services
    from tests.factories import ProductLotFactory, UserFactory
    from tests.test_lots import recipients

    lot = ProductLotFactory(vials_received=50)
    recipients(lot, 6)  # every other one by SMS
    workers.start("w1", broker=test_broker)
    admin = UserFactory(role="Clinic admin")
    reminder_services.start_recall(lot=lot, message="{product} {lot} recalled", actor=admin)
    notices = Reminder.objects.filter(kind="recall")
    # Whatever the hour the suite runs at: due now, not after the patients' quiet hours.
    now = timezone.now()
    notices.update(due_at=now, not_before=now)
    ids = set(notices.values_list("pk", flat=True))
    assert len(ids) == 6
    reminder_services.start_recall(lot=lot, message="again", actor=admin)
    send_dispatch(test_broker)
    wait_for(
        lambda: notices.filter(state=ReminderState.SENT).count() == 6,
        what="the recall notices to be sent",
    )
    send_dispatch(test_broker)
    send_dispatch(test_broker)
    time.sleep(2)
    assert notices.count() == 6
    emails = set(notices.filter(channel="email").values_list("pk", flat=True))
    assert workers.delivered() == {pk: 1 for pk in emails}
    attempts = DeliveryAttempt.objects.filter(reminder_id__in=ids)
    assert sorted(a.reminder_id for a in attempts) == sorted(ids)
    assert all(a.succeeded for a in attempts)
