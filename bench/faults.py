#!/usr/bin/env python
"""
Reminder delivery under injected faults (issue 10). Not a test: it prints a table.

    make faults                                    # every fault, then the throughput run
    .venv/bin/python bench/faults.py --faults sigkill db_terminate --backlog 500

For each fault it starts from a clean slate: a scratch PostgreSQL database (faults_clinic),
its own redis-server (port 6390), a fake SMTP provider on loopback (tests/fakesmtp.py: 50 ms
per message, deduplicates by Message-ID and counts every repeated hand-over), and
`--workers` real `celery worker` processes with `--concurrency` pool processes each. It loads
a backlog of due email reminders, stands in for beat (a dispatch task every `--beat`
seconds), and while the workers drain it a client thread cancels and moves sessions through
the real services. Two seconds in, the fault:

    baseline      none
    sigkill       SIGKILL a worker (its whole process group), restart it 3 s later
    redis_down    kill redis-server for --redis-down seconds, restart it empty
    sigstop       SIGSTOP a worker for lease + 5 s, then SIGCONT
    db_terminate  pg_terminate_backend on every worker connection, 5 times, 1 s apart
    smtp_hang     the mail server stops answering (new and open connections) for 10 s
    smtp_stall    the mail server takes messages and never confirms them, for 10 s

Figures per fault: rows due (backlog plus the notices and new confirmations the client's
changes created), sent, duplicated (handed to the provider more than once: what a patient
would receive twice from a provider that does not deduplicate), lost (recorded sent but never
received, or not final when drained), withdrawn-but-sent (the row says withdrawn or expired,
the provider has it), sent-after-withdrawal (hand-over began after the cancel/move had
returned), in flight when withdrawn (hand-over had begun before; the row says sent), drain
time, and the client's cancel/move latency (max) and "busy" refusals.

Then throughput without faults: the backlog through 1 pool process, then through 4.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reminders as bench_reminders  # noqa: E402 - bench/reminders.py: backlog, scratch db
from tests.fakesmtp import HANG, OK, STALL, FakeSmtpServer  # noqa: E402
from tests.workers import RedisServer, Workers, wait_for  # noqa: E402

DATABASE = "faults_clinic"
DATABASE_URL = f"{bench_reminders.SERVER}/{DATABASE}"
REDIS_PORT = int(os.environ.get("FAULTS_REDIS_PORT", "6390"))
TASK = "reminders.tasks.dispatch_due_reminders"
EMAIL_TIMEOUT = 2
FAULTS = [
    "baseline",
    "sigkill",
    "redis_down",
    "sigstop",
    "db_terminate",
    "smtp_hang",
    "smtp_stall",
]


def lease_seconds() -> int:
    return 2 * EMAIL_TIMEOUT + 5  # as reminders.delivery.lease_seconds() in the workers


class Beat(threading.Thread):
    """Stands in for `celery beat`: a dispatch task every `every` seconds (when Redis is up)."""

    def __init__(self, broker: str, every: float):
        super().__init__(daemon=True)
        self.broker, self.every, self.stop = broker, every, threading.Event()

    def run(self):
        from celery import Celery

        app = Celery("faults-beat", broker=self.broker)
        app.conf.broker_connection_timeout = 1
        while not self.stop.is_set():
            try:
                app.send_task(TASK, retry=False)
            except Exception:  # noqa: S110 - Redis is down: as beat, try next tick
                pass
            self.stop.wait(self.every)
        app.close()


class Client(threading.Thread):
    """Front-office staff: cancel or move a random session every `every` seconds."""

    def __init__(self, sessions: list[int], every: float, limit: int):
        super().__init__(daemon=True)
        self.sessions, self.every, self.limit = list(sessions), every, limit
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.refusals: dict[str, int] = {}
        self.changes: list[tuple[int, float, float]] = []  # session, call began, returned

    def run(self):
        from django.core.exceptions import ValidationError
        from django.db import connection

        from treatments import services
        from treatments.models import TreatmentSession

        rng = random.Random(10)  # noqa: S311 - a benchmark's choice, not security
        try:
            while not self.stop.is_set() and len(self.latencies) < self.limit and self.sessions:
                pk = rng.choice(self.sessions)
                session = TreatmentSession.objects.select_related("patient").get(pk=pk)
                began = time.time()
                try:
                    if rng.random() < 0.5:
                        services.cancel_session(
                            session=session, reason="fault run", cancelled_by=session.booked_by
                        )
                        self.sessions.remove(pk)
                    else:
                        services.reschedule_session(
                            session=session,
                            starts_at=session.starts_at + timedelta(days=7),
                            ends_at=session.ends_at + timedelta(days=7),
                            changed_by=session.booked_by,
                        )
                except ValidationError as exc:
                    self.refusals[exc.code] = self.refusals.get(exc.code, 0) + 1
                else:
                    self.changes.append((pk, began, time.time()))
                self.latencies.append(time.time() - began)
                self.stop.wait(self.every)
        finally:
            connection.close()


def worker_connections_terminated() -> int:
    from django.db import connection

    from clinic.celery import WORKER_APPLICATION_NAME

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            [DATABASE, WORKER_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def inject(fault: str, workers: Workers, procs, redis_server: RedisServer, smtp, args) -> str:
    """Apply one fault (blocking until it is over); return what was done."""
    if fault == "baseline":
        return "none"
    if fault == "sigkill":
        victim = procs[0]
        workers.kill(victim, signal.SIGKILL)
        time.sleep(3)
        procs[0] = workers.start(victim.name + "r", broker=redis_server.url, **worker_env(args))
        return f"SIGKILL {victim.name}, restarted"
    if fault == "redis_down":
        redis_server.kill()
        time.sleep(args.redis_down)
        redis_server.start()
        return f"Redis down {args.redis_down} s"
    if fault == "sigstop":
        pause = lease_seconds() + 5
        os.killpg(procs[0].pid, signal.SIGSTOP)
        time.sleep(pause)
        os.killpg(procs[0].pid, signal.SIGCONT)
        return f"SIGSTOP {procs[0].name} {pause} s"
    if fault == "db_terminate":
        killed = []
        for _ in range(5):
            killed.append(worker_connections_terminated())
            time.sleep(1)
        return f"terminated {'+'.join(map(str, killed))} worker connections"
    if fault in ("smtp_hang", "smtp_stall"):
        smtp.mode = HANG if fault == "smtp_hang" else STALL
        time.sleep(10)
        smtp.mode = OK
        return "mail server " + ("silent" if fault == "smtp_hang" else "stalling") + " 10 s"
    raise ValueError(fault)


def worker_env(args) -> dict:
    return {
        "concurrency": args.concurrency,
        "REMINDER_BATCH_SIZE": args.batch,
        "EMAIL_TIMEOUT": EMAIL_TIMEOUT,
        "REMINDER_PROVIDER_DOWN_PAUSE": 5,
        "REMINDER_DISPATCH_SECONDS": 20,
        **args.smtp_env,
    }


def due_unsent():
    """Rows due by now and not final (those backing off or handed back included)."""
    from django.utils import timezone

    from reminders.models import Reminder

    return Reminder.objects.filter(state="pending", due_at__lte=timezone.now())


def settle(deadline: float) -> float | None:
    """Wait until every due reminder is final; the time it took, or None at the deadline."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        if not due_unsent().exists():
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def figures(smtp, client: Client | None) -> dict:
    from django.utils import timezone

    from reminders.delivery import IN_FLIGHT_NOTE
    from reminders.models import Reminder

    now = timezone.now()
    rows = {
        r.pk: r
        for r in Reminder.objects.filter(due_at__lte=now).only(
            "pk", "state", "session_id", "status_note"
        )
    }
    at_provider = {rid: key for key, rid in smtp.mailbox.delivered.items()}
    sent = {pk for pk, r in rows.items() if r.state == "sent"}
    withdrawn_but_sent = sum(
        1 for pk in at_provider if rows[pk].state in ("withdrawn", "expired", "failed")
    )
    lost = len(sent - set(at_provider)) + due_unsent().count()
    lost += sum(1 for r in rows.values() if r.state == "failed")
    after, in_flight = 0, 0
    if client:
        changed = {}
        for session, began, returned in client.changes:
            changed.setdefault(session, []).append((began, returned))
        for pk, key in at_provider.items():
            row = rows[pk]
            if row.status_note == IN_FLIGHT_NOTE:
                in_flight += 1
            for _began, returned in changed.get(row.session_id, []):
                withdrawn = row.state == "withdrawn" or row.status_note.startswith("withdrawn")
                if withdrawn and smtp.mailbox.first_seen[key] > returned:
                    after += 1
    latencies = client.latencies if client else [0.0]
    return {
        "due": len(rows) - sum(1 for r in rows.values() if r.state == "withdrawn"),
        "sent": len(sent),
        "duplicated": smtp.mailbox.handed_over_twice(),
        "lost": lost,
        "withdrawn_but_sent": withdrawn_but_sent,
        "sent_after_withdrawal": after,
        "in_flight_withdrawn": in_flight,
        "changes": len(latencies) if client else 0,
        "latency_max": max(latencies or [0.0]),
        "busy": (client.refusals.get("busy", 0) if client else 0),
    }


def run_one(fault: str, args, tmp: Path) -> dict:
    import redis as redis_lib

    from reminders.models import DeliveryAttempt, Reminder
    from treatments.models import TreatmentSession

    Reminder.objects.all().delete()
    DeliveryAttempt.objects.all().delete()
    TreatmentSession.objects.all().delete()
    redis_server = RedisServer(REDIS_PORT, tmp)
    redis_server.start()
    os.environ["REDIS_URL"] = redis_server.url
    from django.conf import settings

    settings.REDIS_URL = settings.CELERY_BROKER_URL = redis_server.url
    from clinic.celery import app

    app.conf.broker_url = redis_server.url
    with FakeSmtpServer(latency=args.latency) as smtp:
        args.smtp_env = smtp.settings_env()
        sessions = bench_reminders.make_backlog(args.backlog, per_session=args.per_session)
        redis_lib.Redis.from_url(redis_server.url).flushdb()  # the bookings' nudges
        workers = Workers(tmp / fault, database_url=DATABASE_URL)
        procs = [
            workers.start(f"{fault}{i}", broker=redis_server.url, wait=False, **worker_env(args))
            for i in range(args.workers)
        ]
        try:
            return measure(fault, args, smtp, workers, procs, redis_server, sessions)
        finally:
            workers.stop_all()
            redis_server.kill()


def measure(fault, args, smtp, workers, procs, redis_server, sessions) -> dict:
    """Drain the backlog under one fault while the client cancels and moves sessions."""
    for proc in procs:
        workers.wait_ready(proc)
    beat = Beat(redis_server.url, args.beat)
    client = Client([s.pk for s in sessions], every=0.25, limit=args.changes)
    started = time.monotonic()
    beat.start()
    client.start()
    time.sleep(2)
    done = inject(fault, workers, procs, redis_server, smtp, args)
    drained = settle(started + args.timeout)
    client.stop.set()
    client.join()
    # What the client's last changes created, and anything a restart brought back.
    drained_after = settle(time.monotonic() + args.timeout)
    beat.stop.set()
    beat.join()
    result = figures(smtp, client)
    result.update(
        fault=fault,
        done=done,
        drain=(time.monotonic() - started)
        if drained is not None and drained_after is not None
        else None,
    )
    return result


def throughput(args, tmp: Path, processes: int) -> float:
    """Reminders a second with `processes` pool processes (one worker), no faults."""
    from reminders.models import Reminder
    from treatments.models import TreatmentSession

    Reminder.objects.all().delete()
    TreatmentSession.objects.all().delete()
    redis_server = RedisServer(REDIS_PORT, tmp)
    redis_server.start()
    with FakeSmtpServer(latency=args.latency) as smtp:
        args.smtp_env = smtp.settings_env()
        bench_reminders.make_backlog(args.backlog, per_session=args.per_session)
        import redis as redis_lib

        redis_lib.Redis.from_url(redis_server.url).flushdb()
        workers = Workers(tmp / f"throughput{processes}", database_url=DATABASE_URL)
        env = {**worker_env(args), "concurrency": processes}
        try:
            workers.start(f"tp{processes}", broker=redis_server.url, **env)
            beat = Beat(redis_server.url, args.beat)
            started = time.monotonic()
            beat.start()
            wait_for(
                lambda: not due_unsent().exists(),
                timeout=args.timeout,
                interval=0.2,
                what="the backlog to drain",
            )
            elapsed = time.monotonic() - started
            beat.stop.set()
            beat.join()
        finally:
            workers.stop_all()
            redis_server.kill()
        assert len(smtp.mailbox.delivered) == args.backlog, "throughput run lost reminders"
    return args.backlog / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", nargs="+", default=FAULTS, choices=FAULTS)
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--per-session", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes a worker")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per send")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--beat", type=float, default=5.0, help="seconds between dispatches")
    parser.add_argument("--redis-down", type=int, default=20)
    parser.add_argument("--changes", type=int, default=40, help="cancels/moves per fault")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args()
    # Ctrl-C or kill: stop the workers and Redis this script started (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    os.environ.update(
        DEBUG="1",
        DATABASE_URL=DATABASE_URL,
        DJANGO_SETTINGS_MODULE="clinic.settings",
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        EMAIL_TIMEOUT=str(EMAIL_TIMEOUT),
        LOG_LEVEL="ERROR",
    )
    bench_reminders.recreate_database(DATABASE)
    bench_reminders.setup_django()

    rows = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        for fault in args.faults:
            print(f"... {fault}", flush=True)
            rows.append(run_one(fault, args, Path(tmp)))
        tp = None
        if not args.no_throughput:
            print("... throughput", flush=True)
            tp = (throughput(args, Path(tmp), 1), throughput(args, Path(tmp), 4))

    print(
        f"\n{args.backlog} due emails, {args.workers} workers x {args.concurrency} processes, "
        f"{args.latency * 1000:.0f} ms a send, batch {args.batch}, lease {lease_seconds()} s, "
        f"EMAIL_TIMEOUT {EMAIL_TIMEOUT} s\n"
    )
    head = (
        f"{'fault':<13}{'due':>6}{'sent':>6}{'dup':>5}{'lost':>5}{'w-b-s':>6}{'after-w':>8}"
        f"{'in-flight':>10}{'drain s':>8}{'changes':>8}{'max s':>7}{'busy':>5}  what"
    )
    print(head)
    for r in rows:
        drain = f"{r['drain']:.1f}" if r["drain"] is not None else "never"
        print(
            f"{r['fault']:<13}{r['due']:>6}{r['sent']:>6}{r['duplicated']:>5}{r['lost']:>5}"
            f"{r['withdrawn_but_sent']:>6}{r['sent_after_withdrawal']:>8}"
            f"{r['in_flight_withdrawn']:>10}{drain:>8}{r['changes']:>8}"
            f"{r['latency_max']:>7.2f}{r['busy']:>5}  {r['done']}"
        )
    if tp:
        print(
            f"\nthroughput: 1 process {tp[0]:.1f}/s, 4 processes {tp[1]:.1f}/s "
            f"({tp[1] / tp[0]:.2f}x)"
        )


if __name__ == "__main__":
    main()
