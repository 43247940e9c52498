"""Delivery under outside faults, deterministically: the database connection dropped right
after a send, a mail server that never answers, one that stalls mid-message while staff
cancel, and a reminder row held locked by a stuck writer while staff cancel or move.
(bench/faults.py injects the same faults into running workers; README, "Fault injection".)
"""

import threading
import time
from datetime import timedelta

import psycopg2
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from reminders import delivery
from reminders.channels import LocmemSmsBackend
from reminders.models import DeliveryAttempt, Reminder, ReminderState
from tests.factories import PatientFactory
from tests.fakesmtp import HANG, STALL, FakeSmtpServer
from tests.test_reminder_worker import backlog, book_now
from tests.workers import wait_for
from treatments import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.SMS_BACKEND = "reminders.channels.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def no_quiet_hours():
    from tests.test_reminder_worker import no_quiet_hours as make

    return make.__wrapped__()


@pytest.fixture
def smtp(settings):
    """Email through a fake SMTP server on loopback, with a 1-second socket timeout."""
    with FakeSmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        yield server


def raw_connection():
    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432
    )
    return conn


class TestDatabaseBlip:
    def test_connection_dropped_after_each_send_sends_each_once(self, settings, no_quiet_hours):
        """Before the fix the send ran inside the row's transaction: the drop lost the "sent"
        mark, the row stayed pending and went out again after its lease."""
        settings.EMAIL_BACKEND = "tests.backends.ConnectionDroppingEmailBackend"
        settings.REMINDER_DB_RETRY_DELAYS = (0.05, 0.1)
        ids = backlog(5)
        counts = delivery.dispatch_due(max_seconds=30)
        assert counts["sent"] == 5
        assert sorted(int(m.extra_headers["X-Clinic-Reminder"]) for m in mail.outbox) == ids
        assert set(Reminder.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
            ReminderState.SENT
        }
        # Even once every lease has run out, nothing is due again.
        with time_machine.travel(timezone.now() + timedelta(hours=1)):
            assert delivery.dispatch_due(max_seconds=5) == {"claimed": 0}
        assert len(mail.outbox) == 5
        assert DeliveryAttempt.objects.filter(reminder_id__in=ids, succeeded=True).count() == 5

    def test_a_longer_outage_leaves_the_row_pending_for_a_resend_with_the_same_key(
        self, settings, no_quiet_hours
    ):
        """Retries exhausted: the row is not lost; the resend carries the same Message-ID, so
        a provider that deduplicates delivers it once (README: what "once" means)."""
        settings.EMAIL_BACKEND = "tests.backends.ConnectionDroppingEmailBackend"
        settings.REMINDER_DB_RETRY_DELAYS = ()  # no second chance for the record step
        [pk] = backlog(1)
        with pytest.raises(Exception):  # noqa: B017 - the dropped connection, whatever its class
            delivery.dispatch_due(max_seconds=5)
        connection.close()
        row = Reminder.objects.get(pk=pk)
        assert row.state == ReminderState.PENDING and row.lease_token is not None
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        with time_machine.travel(timezone.now() + timedelta(seconds=delivery.lease_seconds() + 1)):
            assert delivery.dispatch_due(max_seconds=5)["sent"] == 1
        first, second = mail.outbox
        assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]


class TestHungMailServer:
    def test_a_server_that_never_answers_costs_one_timeout_and_sms_still_goes(
        self, smtp, no_quiet_hours
    ):
        smtp.mode = HANG
        both = PatientFactory(reminders_by_sms=True, phone="+4915112345678")
        book_now(both)  # booking confirmation by email and by SMS
        book_now()  # another patient's, by email
        started = time.monotonic()
        counts = delivery.dispatch_due(max_seconds=30)
        assert time.monotonic() - started < 3  # one 1-second timeout, not one per email
        assert counts["sent"] == 1 and counts["handed_back"] == 1
        assert len(LocmemSmsBackend.outbox) == 1
        failed = Reminder.objects.get(kind="booking_confirmation", channel="email", attempts=1)
        assert failed.state == ReminderState.PENDING and "timed out" in failed.status_note
        assert failed.not_before > timezone.now() + timedelta(seconds=50)  # backing off
        waiting = Reminder.objects.get(kind="booking_confirmation", channel="email", attempts=0)
        assert waiting.not_before > timezone.now() + timedelta(seconds=50)
        assert waiting.lease_token is None

    def test_a_batch_without_email_never_opens_the_mail_connection(self, smtp, no_quiet_hours):
        smtp.mode = HANG
        book_now(PatientFactory(reminders_by_sms=True, reminders_by_email=False))
        started = time.monotonic()
        assert delivery.dispatch_due(max_seconds=30)["sent"] == 1
        assert time.monotonic() - started < 0.5


class TestStallWhileStaffCancel:
    def test_cancel_answers_at_once_and_the_withdrawn_reminder_is_not_retried(
        self, smtp, settings, no_quiet_hours
    ):
        """Before the fix the worker held the reminder's row lock through the send: the
        cancellation waited for the mail server (31.7 s in production, then killed)."""
        smtp.mode = STALL
        settings.EMAIL_TIMEOUT = 3
        session = book_now()
        confirmation = Reminder.objects.get(session=session, kind="booking_confirmation")
        done = threading.Event()

        def dispatch():
            try:
                delivery.dispatch_due(max_seconds=30)
            finally:
                connection.close()
                done.set()

        threading.Thread(target=dispatch, daemon=True).start()
        wait_for(lambda: smtp.stalled, timeout=10, interval=0.05, what="the stalled send")
        started = time.monotonic()
        services.cancel_session(session=session, reason="ill", cancelled_by=session.booked_by)
        assert time.monotonic() - started < 1
        assert done.wait(10)
        confirmation.refresh_from_db()
        assert confirmation.state == ReminderState.WITHDRAWN  # never retried
        assert [a.succeeded for a in confirmation.deliveries.all()] == [False]
        assert smtp.mailbox.reminder_ids() == set()


class TestStaffLockTimeout:
    @pytest.mark.parametrize("action", ["cancel", "move"])
    def test_a_locked_reminder_row_gives_a_busy_refusal_within_the_lock_timeout(
        self, settings, no_quiet_hours, action
    ):
        settings.STAFF_LOCK_TIMEOUT_SECONDS = 1
        session = book_now()
        holder = raw_connection()  # a stuck writer elsewhere holds the confirmation's row
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM treatments_reminder WHERE session_id = %s FOR UPDATE",
                [session.pk],
            )
        # ...for 5 s at most, so code without the lock timeout waits, then goes through.
        release = threading.Timer(5, holder.rollback)
        release.start()
        started = time.monotonic()
        with pytest.raises(ValidationError) as refusal:
            if action == "cancel":
                services.cancel_session(
                    session=session, reason="ill", cancelled_by=session.booked_by
                )
            else:
                services.reschedule_session(
                    session=session,
                    starts_at=session.starts_at + timedelta(days=1),
                    ends_at=session.ends_at + timedelta(days=1),
                    changed_by=session.booked_by,
                )
        elapsed = time.monotonic() - started
        release.cancel()
        holder.rollback()
        holder.close()
        assert refusal.value.code == "busy" and "try again in a moment" in refusal.value.messages[0]
        assert 0.9 < elapsed < 3
        session.refresh_from_db()
        assert session.status == "scheduled" and session.reschedule_count == 0
