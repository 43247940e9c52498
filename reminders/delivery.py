"""
Delivering the due reminders, each exactly once as far as the channel allows.

`dispatch_due` claims due rows in batches with SELECT ... FOR UPDATE SKIP LOCKED and takes a
lease on them (one statement, committed), so any number of workers can run side by side. For
each reminder one statement checks that it is still pending and ours (a withdrawal that
committed before it wins); the message is then sent with no transaction open and no lock
held; one statement records the outcome (a send's on a connection of the dispatcher's own,
awaited before the next send), retried on a fresh connection if the database connection
dropped. The lease is renewed while the batch runs. A worker killed mid-batch leaves its
rows pending; they are claimed again when the lease (seconds) runs out, and sent again with
the same idempotency key (Message-ID / SMS reference).
"""

from __future__ import annotations

import logging
import smtplib
import socket
import time as clock
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.core.mail import get_connection
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.prepared import PreparedGet

from . import channels, services
from .models import (
    Channel,
    DeliveryAttempt,
    Reminder,
    ReminderState,
)

logger = logging.getLogger("clinic.reminders")

T = TypeVar("T")

# Seconds to wait after the n-th failed attempt before the next one.
BACKOFF_SECONDS = (60, 5 * 60, 15 * 60, 60 * 60, 4 * 60 * 60)

# --- Delivery -------------------------------------------------------------------------------
#
# Claim (commit) -> check the row is still wanted (short transaction) -> send with no
# transaction open and no lock held -> record the outcome (short transaction, retried on a
# fresh connection). Each database step is short, so a database blip or a hung provider never
# leaves a row locked, and a staff cancellation never waits for a send.

DB_ERRORS = (OperationalError, InterfaceError)
IN_FLIGHT_NOTE = "withdrawn while already on its way"

# Errors that mean "the provider cannot be reached", not "this one message was refused": the
# rest of the batch on that channel is handed back instead of each waiting its own timeout.
PROVIDER_DOWN_ERRORS = (
    TimeoutError,
    ConnectionError,
    socket.gaierror,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)


def lease_seconds() -> int:
    """How long a claim (and each renewal) holds rows: one send at its worst, twice, plus a
    margin. The lease is renewed before every send, so a crashed worker's rows come back
    within this many seconds, and a live one never loses rows to another mid-batch."""
    return settings.REMINDER_LEASE_SECONDS or (2 * settings.REMINDER_SEND_TIMEOUT + 5)


def _on_fresh_connection(step: Callable[[], T], *, what: str) -> T:
    """Run one short database step; if the connection drops, retry on a new connection.

    The send before a record step cannot be undone, so recording its outcome is worth a few
    seconds of retrying: a row left pending would be sent again after its lease.
    """
    delays = settings.REMINDER_DB_RETRY_DELAYS
    for attempt in range(len(delays) + 1):
        try:
            return step()
        except DB_ERRORS as exc:
            if attempt == len(delays) or connection.in_atomic_block:
                raise
            logger.warning("Reminders: database error during %s (%s); reconnecting", what, exc)
            try:
                connection.close()
            except DB_ERRORS:
                pass
            clock.sleep(delays[attempt])
    raise AssertionError("unreachable")


# A statement whose WHERE says this commits without waiting for the disk (PostgreSQL's
# synchronous_commit off, for its own implicit transaction only: set_config(..., true) lasts
# until that transaction's commit, which it governs). A commit waits 0.2-5 ms for fdatasync
# here, more than a step's own database work; and one statement is one round trip.
#
# Only for steps whose loss costs nothing: a claim's lease and an attempt's check. Only a
# crash of the database server can lose such a commit (the last fraction of a second; a
# dropped connection loses nothing committed), and then the row is as it was before the step:
# pending, claimable again, its attempt uncounted. A send's record still waits for the disk,
# and being later in the write-ahead log it makes every earlier commit durable too.
UNFLUSHED = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _unflushed() -> str:
    """`AND` the unflushed commit, on PostgreSQL; on the SQLite of `make run` nothing (a
    commit there is its own, and it runs one writer at a time)."""
    return f" AND {UNFLUSHED}" if _postgres() else ""


def _skip_locked() -> str:
    """Rows another worker holds are passed over (PostgreSQL; SQLite locks the database)."""
    return " FOR UPDATE SKIP LOCKED" if _postgres() else ""


def _execute(cursor, sql: str, values: dict) -> None:
    """One of the dispatcher's own statements, with its parameters as the ORM stores them on
    this database (on SQLite instants as UTC text and lease ids as hex)."""
    if not _postgres():
        values = {
            name: connection.ops.adapt_datetimefield_value(value)
            if isinstance(value, datetime)
            else value.hex
            if isinstance(value, uuid.UUID)
            else value
            for name, value in values.items()
        }
    cursor.execute(sql, values)


def _update_and_log(cursor, update: str, values: dict, *, succeeded: bool) -> None:
    """An attempt's outcome on its reminder (`update`) and its delivery log line: one
    statement on PostgreSQL (`WITH … AS (UPDATE …) INSERT …`: atomic on its own, one round
    trip, the dispatcher's hottest step), two in one transaction elsewhere."""
    log = _log_attempt_sql(succeeded=succeeded)
    if _postgres():
        _execute(cursor, f"WITH outcome AS ({update}) {log}", values)
        return
    with transaction.atomic():
        _execute(cursor, update, values)
        _execute(cursor, log, values)


class Recorder:
    """Writes the record of a send on a database connection of its own (one thread), so the
    dispatcher renders and checks the next reminder while the record waits for the disk
    (a durable commit: 0.2-5 ms here, as long as everything else a reminder costs).

    At most one record is in flight: `wait()` comes before the next hand-over, so, as without
    it, no more than one message is ever handed over and not yet durably recorded, and each
    record starts right after its send. Only outside a transaction (a test's transaction
    would hide its rows from the thread's connection) and on PostgreSQL."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reminder-record")
        # Connected before the first send, so no record waits for a connection to be made.
        self._pending: Future | None = self._pool.submit(self._connect)

    @staticmethod
    def _connect() -> None:
        try:
            connection.ensure_connection()
        except DB_ERRORS:
            pass  # the first record connects (and retries) itself

    @staticmethod
    def usable() -> bool:
        return _postgres() and not connection.in_atomic_block

    def record(self, step: Callable[[], str]) -> None:
        self.wait()
        self._pending = self._pool.submit(step)

    def wait(self) -> None:
        """Until the record in flight is durable; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.submit(lambda: connection.close()).result()  # the thread's own
            self._pool.shutdown()


def claim_batch(*, now: datetime, size: int) -> tuple[uuid.UUID, list[Reminder]]:
    """Lease up to `size` due reminders that no other worker holds (committed at once).

    One statement takes the lease (the rows picked with FOR UPDATE SKIP LOCKED, oldest due
    first); the batch is then read by that lease (`_LEASED`)."""
    token = uuid.uuid4()
    table = Reminder._meta.db_table
    with connection.cursor() as cursor:
        _execute(
            cursor,
            f"""UPDATE {table} SET leased_until = %(lease)s, lease_token = %(token)s
            WHERE id IN (
                SELECT id FROM {table}
                WHERE state = %(pending)s AND not_before <= %(now)s
                    AND (leased_until IS NULL OR leased_until < %(now)s)
                ORDER BY not_before LIMIT %(size)s{_skip_locked()}
            ){_unflushed()}
            RETURNING id""",  # noqa: S608 - the table name is ours
            {
                "lease": now + timedelta(seconds=lease_seconds()),
                "token": token,
                "pending": ReminderState.PENDING,
                "now": now,
                "size": size,
            },
        )
        leased = cursor.fetchall()
    if not leased:
        return token, []
    return token, _LEASED.all(token)


# The batch just leased, with everything its messages name, oldest due first: compiled once a
# process (accounts.prepared), where compiling it through the ORM each batch cost a seventh
# of a reminder's CPU; found by its lease (reminder_lease_idx).
_LEASED = PreparedGet(
    lambda token: (
        Reminder.objects.filter(lease_token=token)
        .select_related(
            "session__patient",
            "session__protocol",
            "session__site",  # the session's clock (TreatmentSession.tz), named in the message
            "follow_up",
            "recall_recipient__recall",
            "waitlist_offer__patient",
            "waitlist_offer__freed_slot__site",
        )
        .order_by("not_before")
    ),
    key=uuid.UUID,
)


def _begin_attempt(pk: int, token: uuid.UUID) -> str | int:
    """Right before a send: is the row still ours and wanted? One UPDATE (one statement, not
    waiting for the disk, no lock held afterwards) counts the attempt; returns the attempt
    number, or the state the row ended in ('' when withdrawn meanwhile or no longer ours)."""
    now = timezone.now()
    values = {
        "pk": pk,
        "token": token,
        "pending": ReminderState.PENDING,
        "expired": ReminderState.EXPIRED,
        "note": "its moment passed unsent",
        "now": now,
    }
    ours = f"id = %(pk)s AND lease_token = %(token)s AND state = %(pending)s{_unflushed()}"
    with connection.cursor() as cursor:
        _execute(
            cursor,
            f"UPDATE {Reminder._meta.db_table} SET attempts = attempts + 1, updated_at = %(now)s"  # noqa: S608 - the table name is ours
            f" WHERE {ours} AND expires_at > %(now)s RETURNING attempts",
            values,
        )
        row = cursor.fetchone()
        if row:
            return row[0]
        _execute(
            cursor,
            f"UPDATE {Reminder._meta.db_table} SET state = %(expired)s, status_note = %(note)s,"  # noqa: S608 - the table name is ours
            " leased_until = NULL, lease_token = NULL, updated_at = %(now)s"
            f" WHERE {ours} AND expires_at <= %(now)s",
            values,
        )
        return ReminderState.EXPIRED if cursor.rowcount else ""


def renew_lease(token: uuid.UUID) -> None:
    """Keep the batch's remaining rows ours for another lease."""
    Reminder.objects.filter(lease_token=token, state=ReminderState.PENDING).update(
        leased_until=timezone.now() + timedelta(seconds=lease_seconds())
    )


def _log_attempt_sql(*, succeeded: bool) -> str:
    """The delivery log's one writer (DeliveryAttempt, what staff read): the INSERT of one
    row, written with the attempt's outcome on the reminder (`_update_and_log`)."""
    table = DeliveryAttempt._meta.db_table
    return (
        f"INSERT INTO {table}"  # noqa: S608 - our table name
        " (reminder_id, attempted_at, succeeded, error, worker, provider_message_id)"
        f" VALUES (%(pk)s, %(at)s, {'true' if succeeded else 'false'}, %(error)s, %(worker)s,"
        " %(provider_id)s)"
    )


def _record_sent(pk: int, *, worker: str, at: datetime, provider_id: str = "") -> str:
    """The provider took it: the row is sent, whoever holds its lease now. A row withdrawn
    while its message was already on its way is recorded as what happened: sent.

    The row and its delivery log line are written by one statement (atomic on its own: one
    round trip, no transaction to open and commit), the dispatcher's hottest step. With a
    provider's message id, status callbacks that came in first are applied in the same
    transaction.
    """
    with transaction.atomic() if provider_id else nullcontext():
        with connection.cursor() as cursor:
            _update_and_log(
                cursor,
                f"""UPDATE {Reminder._meta.db_table} SET state = %(sent)s, sent_at = %(at)s,
                    status_note = CASE WHEN state = %(withdrawn)s THEN %(note)s ELSE '' END,
                    provider_message_id = %(provider_id)s, leased_until = NULL,
                    lease_token = NULL, updated_at = %(at)s
                WHERE id = %(pk)s AND state IN (%(pending)s, %(withdrawn)s)""",  # noqa: S608 - our table name
                {
                    "sent": ReminderState.SENT,
                    "pending": ReminderState.PENDING,
                    "withdrawn": ReminderState.WITHDRAWN,
                    "note": IN_FLIGHT_NOTE,
                    "at": at,
                    "provider_id": provider_id,
                    "pk": pk,
                    "worker": worker,
                    "error": "",
                },
                succeeded=True,
            )
        if provider_id:  # a status callback may have come in before this record
            services.apply_early_statuses(reminder_id=pk, message_sid=provider_id)
    return ReminderState.SENT


def _record_failure(pk: int, *, token, attempts: int, exc: Exception, worker: str, at) -> str:
    """The send failed: back off, or give up after REMINDER_MAX_ATTEMPTS. Only a row still
    pending under our lease changes (a withdrawn one stays withdrawn, never retried); the
    delivery log gets its line either way, in the same statement."""
    note = f"{exc.__class__.__name__}: {exc}"[:2000]
    # A refusal no retry can cure (an invalid number, an opt-out at the carrier) fails now.
    if attempts >= settings.REMINDER_MAX_ATTEMPTS or isinstance(exc, channels.PermanentSendError):
        state, not_before = ReminderState.FAILED, None
    else:
        state = ReminderState.PENDING
        not_before = at + timedelta(
            seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
        )
    with connection.cursor() as cursor:
        _update_and_log(
            cursor,
            f"""UPDATE {Reminder._meta.db_table} SET state = %(state)s,
                not_before = COALESCE(%(not_before)s, not_before), status_note = %(error)s,
                leased_until = NULL, lease_token = NULL, updated_at = %(at)s
            WHERE id = %(pk)s AND lease_token = %(token)s AND state = %(pending)s""",  # noqa: S608 - our table name
            {
                "state": state,
                "not_before": not_before,
                "error": note,
                "at": at,
                "pk": pk,
                "token": token,
                "pending": ReminderState.PENDING,
                "worker": worker,
                "provider_id": "",
            },
            succeeded=False,
        )
    return state


class Mailer:
    """The batch's mail connection: opened only when an email is to be sent, and marked down
    after a connection-level failure so the rest of the batch does not wait on it too."""

    def __init__(self):
        self._connection = None
        self.down: Exception | None = None

    def connection(self):
        if self._connection is None:
            conn = get_connection(fail_silently=False)
            conn.open()
            self._connection = conn
        return self._connection

    def failed(self, exc: Exception) -> None:
        self.close()
        if isinstance(exc, PROVIDER_DOWN_ERRORS):
            self.down = exc

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: S110 - a broken connection is dropped either way
                pass
            self._connection = None


def deliver(
    reminder: Reminder,
    *,
    token: uuid.UUID,
    worker: str,
    mailer: Mailer | None = None,
    recorder: Recorder | None = None,
):
    """Send one leased reminder; return the state it ends in ('' if it was not ours).

    No transaction is open while the message is handed over, so no lock waits on the
    provider. The idempotency key (the email's Message-ID, the SMS reference) is stable per
    reminder, so a retry after an unrecorded send is dropped by a provider that deduplicates.
    With a `recorder`, the previous send's record is awaited right before this hand-over and
    this send's record is handed to it (it can only end 'sent', or raise at the next wait).
    """
    attempt = _on_fresh_connection(lambda: _begin_attempt(reminder.pk, token), what="check")
    if not isinstance(attempt, int):
        return attempt
    own_mailer = mailer is None
    mailer = mailer or Mailer()
    try:
        try:
            message = channels.prepare(reminder)
        except Exception as exc:
            return _failed(
                reminder, exc, token=token, attempt=attempt, worker=worker, mailer=mailer
            )
        if recorder is not None:
            recorder.wait()
        try:
            email_connection = mailer.connection() if reminder.channel == Channel.EMAIL else None
            provider_id = channels.hand_over(message, email_connection=email_connection)
        except Exception as exc:
            return _failed(
                reminder, exc, token=token, attempt=attempt, worker=worker, mailer=mailer
            )
    finally:
        if own_mailer:
            mailer.close()
    now = timezone.now()

    def record() -> str:
        return _on_fresh_connection(
            lambda: _record_sent(reminder.pk, worker=worker, at=now, provider_id=provider_id),
            what="recording a send",
        )

    if recorder is None or provider_id:  # early status callbacks are applied in this process
        return record()
    recorder.record(record)
    return ReminderState.SENT


def _failed(reminder: Reminder, exc: Exception, *, token, attempt: int, worker: str, mailer):
    if reminder.channel == Channel.EMAIL:
        mailer.failed(exc)
    logger.warning("Reminder %s attempt %s failed: %r", reminder.pk, attempt, exc)
    now = timezone.now()
    return _on_fresh_connection(
        lambda: _record_failure(
            reminder.pk, token=token, attempts=attempt, exc=exc, worker=worker, at=now
        ),
        what="recording a failure",
    )


def _hand_back(reminders: list[Reminder], token: uuid.UUID, *, pause: int) -> int:
    """The provider is down: release these rows unattempted, to be tried after `pause`."""
    now = timezone.now()
    return Reminder.objects.filter(
        pk__in=[r.pk for r in reminders], lease_token=token, state=ReminderState.PENDING
    ).update(
        leased_until=None,
        lease_token=None,
        not_before=now + timedelta(seconds=pause),
        updated_at=now,
    )


def dispatch_due(
    *,
    max_seconds: float | None = None,
    worker: str = "",
    on_full_batch: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Deliver due reminders batch by batch until none is due or the time is up.

    `on_full_batch` is called once, after the first claim that filled a whole batch: more
    rows are probably due, so the caller can start another dispatcher beside this one.
    counts["more"] is 1 when the time ran out with rows probably left.
    """
    worker = worker or socket.gethostname()
    deadline = clock.monotonic() + (max_seconds or settings.REMINDER_DISPATCH_SECONDS)
    size = settings.REMINDER_BATCH_SIZE
    counts: dict[str, int] = {"claimed": 0}

    def count(state):
        counts[state or "skipped"] = counts.get(state or "skipped", 0) + 1

    mailer = Mailer()
    recorder = Recorder() if Recorder.usable() else None
    try:
        while clock.monotonic() < deadline:
            token, batch = _on_fresh_connection(
                lambda: claim_batch(now=timezone.now(), size=size), what="claim"
            )
            if not batch:
                return counts
            counts["claimed"] += len(batch)
            if len(batch) == size and on_full_batch is not None:
                on_full_batch()
                on_full_batch = None
            handed_back = []
            renew_at = clock.monotonic() + lease_seconds() / 2
            for reminder in batch:
                if reminder.channel == Channel.EMAIL and mailer.down is not None:
                    handed_back.append(reminder)  # the mail provider is down: not now
                    continue
                if clock.monotonic() >= renew_at:
                    _on_fresh_connection(lambda token=token: renew_lease(token), what="lease")
                    renew_at = clock.monotonic() + lease_seconds() / 2
                count(
                    deliver(reminder, token=token, worker=worker, mailer=mailer, recorder=recorder)
                )
            if recorder is not None:
                recorder.wait()  # the batch's last record, before the batch's end
            if handed_back:
                counts["handed_back"] = counts.get("handed_back", 0) + _on_fresh_connection(
                    lambda rows=handed_back, token=token: _hand_back(
                        rows, token, pause=settings.REMINDER_PROVIDER_DOWN_PAUSE
                    ),
                    what="handing back",
                )
        counts["more"] = 1
        return counts
    finally:
        try:
            mailer.close()
        finally:
            if recorder is not None:
                recorder.close()
