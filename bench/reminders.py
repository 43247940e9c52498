#!/usr/bin/env python
"""
Reminder dispatch throughput: N due reminders on PostgreSQL, delivered by real Celery worker
processes over Redis, with the console email backend (output discarded). A benchmark, not a
test: it prints figures.

    .venv/bin/python bench/reminders.py                 # N=10,000, one worker then two
    .venv/bin/python bench/reminders.py --sizes 10000 40000 --workers 1

It uses a database of its own (clinic_bench, dropped and re-created) and Redis database 14.
Target (issue 3): at least 10,000 reminders a minute per worker, worker memory flat as N grows.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from treatments.rules import add_months  # noqa: E402 - pure module, no Django needed

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_DATABASE", "clinic_bench")
DATABASE_URL = f"{SERVER}/{DATABASE}"
BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def configure() -> None:
    # Production settings (DEBUG off, as bench/load.py runs the web pages): DEBUG would wrap
    # every cursor to log its SQL, a cost no real worker pays.
    os.environ.update(
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        ALLOW_CONSOLE_MESSAGES="1",  # the console backend is the "instant" provider here
        LOG_LEVEL="WARNING",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=BROKER,
        DJANGO_SETTINGS_MODULE="clinic.settings",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )


def recreate_database(name: str = DATABASE) -> None:
    """Drop and create a scratch database (bench/faults.py uses one named faults_*)."""
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def setup_django():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_backlog(n: int, per_session: int = 100) -> list:
    """n due email reminders over n/per_session booked sessions (rows as the planner writes
    them); returns the sessions."""
    from datetime import date, datetime
    from datetime import time as dtime

    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from accounts import roles
    from patients.models import Patient
    from reminders.models import Reminder
    from treatments import services
    from treatments.models import ProtocolVersion, Room, TreatmentSession

    ProtocolVersion.objects.get_or_create(
        name="Bench: no quiet hours",
        defaults={
            "effective_from": date(2001, 1, 1),
            "quiet_hours_start": dtime(0),
            "quiet_hours_end": dtime(0),
        },
    )
    # Only this benchmark's own rows are replaced; --filler rows (history) stay.
    TreatmentSession.objects.filter(patient__email__startswith="bench").delete()
    doctor, _ = User.objects.get_or_create(username="bench-doctor", is_superuser=True)
    # A session's clinician must hold the clinician role (book_session refuses anyone else).
    doctor.groups.add(Group.objects.get(name=roles.CLINICIAN))
    room, _ = Room.objects.get_or_create(name="Bench room")
    now = timezone.now()
    sessions = []
    for i in range((n + per_session - 1) // per_session):
        patient, _ = Patient.objects.get_or_create(
            email=f"bench{i}@example.test",
            defaults={
                "first_name": "Bench",
                "last_name": f"Patient {i}",
                "date_of_birth": date(1980, 1, 1),
            },
        )
        starts = datetime.combine(
            timezone.localdate() + timedelta(days=30),
            dtime(8),
            tzinfo=timezone.get_current_timezone(),
        ) + timedelta(minutes=30 * i)
        sessions.append(
            services.book_session(
                patient=patient,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                clinician=doctor,
                room=room,
                booked_by=doctor,
                now=now,
            )
        )
    Reminder.objects.filter(session__in=sessions).delete()
    rows = []
    for index in range(n):
        session = sessions[index // per_session]
        rows.append(
            Reminder(
                session=session,
                kind="booking_confirmation",
                channel="email",
                occasion=index % per_session,
                due_at=now,
                not_before=now,
                expires_at=now + timedelta(days=1),
            )
        )
    Reminder.objects.bulk_create(rows, batch_size=5000)
    return sessions


PER_SESSION = 200_000  # 7 kinds x 30,000 occasions fit one session's unique keys
KINDS = [
    "booking_confirmation",
    "nsaid_stop",
    "day_before",
    "aftercare",
    "nsaid_end",
    "next_session_eligible",
    "cancellation",
]


def add_filler(count: int) -> None:
    """History: `count` sent reminders (added once), so the table is as big as a clinic
    group's and the dispatcher must find its few due rows among them."""
    from datetime import date, datetime
    from datetime import timedelta as td

    from django.contrib.auth.models import User
    from django.utils import timezone

    from patients.models import Patient
    from reminders.models import Reminder
    from treatments.models import ProtocolVersion, Room, TreatmentSession

    tz = timezone.get_current_timezone()
    patient, _ = Patient.objects.get_or_create(
        email="filler@example.test",
        defaults={
            "first_name": "History",
            "last_name": "Filler",
            "date_of_birth": date(1970, 1, 1),
        },
    )
    have = Reminder.objects.filter(session__patient=patient).count()
    if have >= count:
        return
    print(f"Adding {count - have:,} historic sent reminders...", flush=True)
    doctor, _ = User.objects.get_or_create(username="filler-doctor")
    room, _ = Room.objects.get_or_create(name="Filler room")
    protocol = ProtocolVersion.objects.in_force_on(timezone.localdate())
    sent = datetime(2020, 1, 1, 9, tzinfo=tz)
    for n in range(have // PER_SESSION, (count + PER_SESSION - 1) // PER_SESSION):
        starts = datetime(2020, 1, 6, 9, tzinfo=tz) + td(days=n)
        session, _ = TreatmentSession.objects.get_or_create(
            patient=patient,
            starts_at=starts,
            defaults=dict(
                ends_at=starts + td(hours=1),
                clinician=doctor,
                room=room,
                status="cancelled",
                cancellation_reason="history",
                protocol=protocol,
                gap_months=6,
                local_date=starts.date(),
                gap_until=add_months(starts.date(), 6),
                booked_by=doctor,
            ),
        )
        done = Reminder.objects.filter(session=session).count()
        todo = min(PER_SESSION, count - n * PER_SESSION)
        for first in range(done, todo, 20_000):
            Reminder.objects.bulk_create(
                Reminder(
                    session=session,
                    kind=KINDS[j // 30_000],
                    channel="email",
                    occasion=j % 30_000,
                    state="sent",
                    due_at=sent,
                    expires_at=sent,
                    not_before=sent,
                    sent_at=sent,
                    attempts=1,
                )
                for j in range(first, min(first + 20_000, todo))
            )


def start_worker(name: str) -> subprocess.Popen:
    log = open(ROOT / ".run" / f"bench-{name}.log", "w")  # noqa: SIM115 - lives with the worker
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clinic",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=1",
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    return proc


def group_proc_texts(pgid: int, name: str):
    """/proc/<pid>/<name> of each live process in the process group (the worker's)."""
    for path in Path("/proc").glob(f"[0-9]*/{name}"):
        try:
            if os.getpgid(int(path.parent.name)) == pgid:
                yield path.read_text()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue


def group_peak_rss_mb(pgid: int) -> float:
    """The largest peak resident size (VmHWM) among the worker's processes, in MB."""
    peak = 0
    for status in group_proc_texts(pgid, "status"):
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the worker's processes: the figure a loaded
    machine disturbs least (wall time there also measures the other loads)."""
    ticks = 0
    for stat in group_proc_texts(pgid, "stat"):
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(n: int, workers: int) -> dict:
    import redis
    from celery import Celery

    from reminders.models import Reminder

    make_backlog(n)
    redis.Redis.from_url(BROKER).flushdb()
    procs = [start_worker(f"bench{i}") for i in range(workers)]
    time.sleep(4)  # let them connect
    probe = Celery("bench", broker=BROKER)
    cpu_before = sum(group_cpu_seconds(p.pid) for p in procs)
    started = time.monotonic()
    for _ in range(workers):
        probe.send_task("reminders.tasks.dispatch_due_reminders")
    last_kick = started
    while Reminder.objects.filter(state="pending").exists():
        time.sleep(0.25)
        if time.monotonic() - last_kick > 45:  # what beat would do each minute
            for _ in range(workers):
                probe.send_task("reminders.tasks.dispatch_due_reminders")
            last_kick = time.monotonic()
    elapsed = time.monotonic() - started
    cpu = sum(group_cpu_seconds(p.pid) for p in procs) - cpu_before
    rss = [group_peak_rss_mb(p.pid) for p in procs]
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
    probe.close()
    # Only this run's rows: --filler history is "sent" too.
    sent = Reminder.objects.filter(
        state="sent", session__patient__email__startswith="bench"
    ).count()
    return {
        "n": n,
        "workers": workers,
        "sent": sent,
        "seconds": elapsed,
        "per_second": sent / elapsed,
        "per_minute_per_worker": sent / elapsed * 60 / workers,
        "peak_rss_mb": max(rss),
        "cpu_ms_per_reminder": cpu / sent * 1000 if sent else 0.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--filler",
        type=int,
        default=0,
        help="historic sent reminders in the table first (e.g. 1000000)",
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="reuse clinic_bench (with its filler) instead of re-creating it",
    )
    args = parser.parse_args()
    configure()
    (ROOT / ".run").mkdir(exist_ok=True)
    if not args.keep_database:
        recreate_database()
    setup_django()
    if args.filler:
        add_filler(args.filler)
        from reminders.models import Reminder

        print(f"Reminder rows in the table before each run: {Reminder.objects.count():,}")
    print(
        f"{'N':>8} {'workers':>7} {'sent':>8} {'seconds':>8} {'per s':>8} "
        f"{'per min/worker':>15} {'peak RSS MB':>12} {'worker CPU ms/reminder':>23}"
    )
    for n in args.sizes:
        for w in args.workers:
            r = run(n, w)
            print(
                f"{r['n']:>8} {r['workers']:>7} {r['sent']:>8} {r['seconds']:>8.1f} "
                f"{r['per_second']:>8.0f} {r['per_minute_per_worker']:>15.0f} "
                f"{r['peak_rss_mb']:>12.1f} {r['cpu_ms_per_reminder']:>23.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
