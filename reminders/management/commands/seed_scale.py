"""
A large, realistic clinic group for measuring speed: N patients (default 100,000) with about
2.3 sessions each over five years, their follow-ups with measurements, and their reminders in
every state. PostgreSQL only.

The rows go in with COPY (one per table per chunk of patients), not through the services or
the ORM: at 1,000,000 patients that is 35 million rows, which the services would take days
and bulk inserts hours to write. The rows still obey every database rule that holds for the
services' rows (the six-month gap, no double booking of a clinician or a room: the CHECK,
unique and exclusion constraints are checked on COPY as on INSERT), the dates come from
treatments.rules, the ids from the tables' own sequences (reserved range by range). One thread
makes the rows while a second one copies the previous chunk, so Python and PostgreSQL work
at the same time.

The chunks are written with `session_replication_role = replica` for the writing session.
That switches off the row triggers: pghistory's (the seed's rows get no "insert" event: the
history starts at the seed, as for rows imported from elsewhere) and PostgreSQL's foreign-key
triggers, so the command checks every foreign key of the tables it wrote once at the end (an
anti-join per key) and fails loudly on any orphan. The few rows it makes with the ORM (the
clinicians, rooms, the lot) are in the history as "system: seed_scale".

Refuses to run twice on one database. (It lives in the reminders app, the highest domain app,
because it writes every table up to the reminder outbox.)
"""

import argparse
import io
import json
import queue
import random
import sys
import threading
import time as clock
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections, models, transaction
from django.utils import timezone

from accounts import roles
from patients.models import Patient
from reminders.models import Reminder
from sites.models import Site, default_site_id
from treatments import rules
from treatments.db import history_context
from treatments.models import (
    FollowUp,
    ProductLot,
    ProtocolVersion,
    Room,
    SessionVial,
    TreatmentSession,
)

FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Femi",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mara",
    "Nils",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Yusuf",
]
LAST = [
    "Becker",
    "Cohen",
    "Demir",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lima",
    "Meyer",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Tanaka",
    "Weber",
    "Zimmermann",
]
CLINICIANS = 40  # up to 200,000 patients; one more for every 5,000 patients beyond
PATIENTS_PER_CLINICIAN = 5000
HOURS = 9  # 08:00 to 16:00 starts, one hour each
CHUNK = 10_000  # patients per COPY round (about 350,000 rows)
INDEXES_AFTER = 20_000  # patients from which the indexes are built after copying
NULL = "\\N"  # COPY's NULL
SEEDED = (Patient, TreatmentSession, SessionVial, FollowUp, Reminder)


def copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, int | Decimal | UUID):
        return str(value)
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


class CopyTable:
    """COPY into one model's table: the columns a row gives (in this order, tab-separated),
    then every other column at its model default, formatted once."""

    def __init__(self, model, columns: list[str], now: datetime):
        self.table = model._meta.db_table
        fields = {f.column: f for f in model._meta.concrete_fields}
        unknown = set(columns) - set(fields)
        if unknown:
            raise CommandError(f"{self.table} has no column {', '.join(sorted(unknown))}.")
        rest = [f for f in fields.values() if f.column not in columns and not f.primary_key]
        self.suffix = "".join("\t" + copy_text(self._default(f, now)) for f in rest) + "\n"
        names = ", ".join(
            connection.ops.quote_name(c) for c in [*columns, *(f.column for f in rest)]
        )
        self.sql = f"COPY {connection.ops.quote_name(self.table)} ({names}) FROM STDIN"

    def _default(self, field, now):
        if field.has_default():
            value = field.get_default()
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.null:
            value = None
        elif field.empty_strings_allowed and isinstance(field, models.CharField | models.TextField):
            value = ""
        else:
            raise CommandError(f"{self.table}.{field.column} needs a value from seed_scale.")
        return field.get_prep_value(value)


class Command(BaseCommand):
    help = "Seed a large data set for benchmarks: --patients N (default 100,000). PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--chunk", type=int, default=CHUNK, help="patients per COPY round")
        parser.add_argument(
            "--indexes-after",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="drop the indexes while copying and build them afterwards (default: from "
            f"{INDEXES_AFTER:,} patients on)",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "seed_scale writes with PostgreSQL's COPY and needs PostgreSQL (DATABASE_URL="
                "postgres://...); for a demo clinic on SQLite use seed_demo."
            )
        # The rows made with the ORM are in the history as the command's, not as "unknown".
        with history_context(actor="system: seed_scale"):
            return self._seed(*args, **options)

    def _seed(self, *args, patients: int, seed: int, chunk: int, indexes_after, **options):
        if patients < 1 or chunk < 1:
            raise CommandError("--patients and --chunk must be at least 1.")
        existing = Patient.objects.filter(email__startswith="scale-").count()
        if existing:
            raise CommandError(
                f"This database already holds scale data ({existing} patients). Seed a fresh "
                "database instead (the benchmark uses clinic_bench_<N>)."
            )
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.now = timezone.now()
        site = Site.objects.get(pk=default_site_id())
        self.tz = ZoneInfo(site.time_zone)  # the sessions' clock: their site's
        self.today = self.now.astimezone(self.tz).date()
        self.protocol = ProtocolVersion.objects.in_force_on(self.today)
        self.terms = self.protocol.terms
        self._setup(max(CLINICIANS, patients // PATIENTS_PER_CLINICIAN))
        self._tables()
        self.slots: dict = {}
        self.caches: dict = {"start": {}, "fu": {}}
        self.ids = {m: self._first_id(m) for m in (Patient, TreatmentSession, FollowUp)}
        self.written = 0
        if indexes_after is None:
            indexes_after = patients >= INDEXES_AFTER
        started = clock.monotonic()
        rebuild = self._drop_indexes() if indexes_after else []
        try:
            totals = self._copy(patients, chunk, started)
            written = clock.monotonic() - started
            sys.stdout.write("Checking the foreign keys of the copied rows...")
            sys.stdout.flush()
            checked = clock.monotonic()
            self._check_foreign_keys()
            sys.stdout.write(f" {clock.monotonic() - checked:.0f} s.\n")
        finally:
            # Also after a failure: the tables get their indexes and constraints back (or the
            # error says which rows break one).
            self._rebuild_indexes(rebuild)
        if not connection.in_atomic_block:
            # The steady state autovacuum gives a live database: statistics for the planner
            # and visibility maps for index-only scans.
            sys.stdout.write("VACUUM ANALYZE...")
            sys.stdout.flush()
            vacuumed = clock.monotonic()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            sys.stdout.write(f" {clock.monotonic() - vacuumed:.0f} s.\n")
        self.stdout.write(
            self.style.SUCCESS(
                "Seeded in {:.0f} s ({:.0f} s copying): {patients} patients, {sessions} sessions, "
                "{follow_ups} follow-ups, {reminders} reminders.".format(
                    clock.monotonic() - started, written, **totals
                )
            )
        )

    def _copy(self, patients: int, chunk: int, started: float) -> dict:
        totals = {"patients": 0, "sessions": 0, "follow_ups": 0, "reminders": 0}
        # In a test's transaction the rows go in on this connection; else a second thread
        # copies chunk k while this one makes chunk k + 1.
        inline = connection.in_atomic_block
        chunks: queue.Queue = queue.Queue(maxsize=1)
        failure: list[BaseException] = []
        writer = threading.Thread(target=self._writer, args=(chunks, failure), daemon=True)

        def hand_over(item) -> None:
            while True:
                if failure or not writer.is_alive():
                    raise CommandError(f"The writer stopped: {failure[0] if failure else '?'}")
                try:
                    chunks.put(item, timeout=1)
                    return
                except queue.Full:
                    continue

        if not inline:
            writer.start()
        for first in range(0, patients, chunk):
            size = min(chunk, patients - first)
            buffers, counts = self._chunk(first, size)
            for model in (Patient, TreatmentSession, FollowUp):
                self._reserve(model)
            for key, value in counts.items():
                totals[key] += value
            if inline:
                self._write(connection, buffers)
                self.written += size
            else:
                hand_over((buffers, size))
            self._progress(first + size, patients, started)
        if not inline:
            hand_over(None)
            while writer.is_alive():
                writer.join(timeout=1)
                self._progress(patients, patients, started)
            if failure:
                raise CommandError(f"The writer stopped: {failure[0]}") from failure[0]
        sys.stdout.write("\n")
        return totals

    def _drop_indexes(self) -> list[tuple[str, str]]:
        """Drop the seeded tables' indexes and the unique and exclusion constraints behind
        them (not the primary keys); return (table, name, statement) to make each again. Building
        an index over the copied rows is many times faster than keeping it up to date while
        copying; the constraints are checked on every row when they are added back."""
        tables = [m._meta.db_table for m in SEEDED]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid)"
                " FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s)"
                " AND c.contype IN ('u', 'x') ORDER BY 2, 1",
                [tables],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text,"
                " pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT EXISTS"
                " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
                " AND c.conrelid = i.indrelid) ORDER BY 1",
                [tables],
            )
            indexes = cursor.fetchall()
            q = connection.ops.quote_name
            for name, table, _ in constraints:
                cursor.execute(f"ALTER TABLE {q(table)} DROP CONSTRAINT {q(name)}")
            for name, _, _ in indexes:
                cursor.execute(f"DROP INDEX {q(name)}")
        sys.stdout.write(
            f"Copying without {len(indexes)} indexes and {len(constraints)} unique and "
            "exclusion constraints (made again afterwards)...\n"
        )
        return [(table, name, sql) for name, table, sql in indexes] + [
            (table, name, f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(name)} {definition}")
            for name, table, definition in constraints
        ]

    def _rebuild_indexes(self, statements: list[tuple[str, str, str]]) -> None:
        """Make the dropped indexes and constraints again, on two connections at once, each
        taking a whole table at a time (statements on one table would wait for each other's
        locks): the sessions first, for their exclusion constraints' GiST builds take longest
        (and go first there), while the other connection makes the other tables' indexes.
        A statement that fails (rows breaking a constraint) is reported after the rest are
        made."""
        if not statements:
            return
        started = clock.monotonic()
        session_table = TreatmentSession._meta.db_table
        by_table: dict[str, list[tuple[str, str]]] = {}
        for table, name, sql in sorted(statements, key=lambda item: " EXCLUDE " not in item[2]):
            by_table.setdefault(table, []).append((name, sql))
        todo: queue.Queue = queue.Queue()
        for table in sorted(by_table, key=lambda table: table != session_table):
            todo.put(by_table[table])
        failed: list[str] = []
        done = [0]

        def build(conn) -> None:
            with conn.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '256MB'")
                while True:
                    try:
                        table_statements = todo.get_nowait()
                    except queue.Empty:
                        break
                    for name, sql in table_statements:
                        try:
                            with transaction.atomic(using=conn.alias):
                                cursor.execute(sql)
                        except DatabaseError as error:  # the rest are still made
                            failed.append(f"{name}: {str(error).strip()}")
                        done[0] += 1
                cursor.execute("RESET maintenance_work_mem")

        def worker() -> None:
            conn = connections["default"]  # this thread's own connection
            try:
                build(conn)
            finally:
                conn.close()

        if connection.in_atomic_block:  # a test's transaction: one connection, in turn
            build(connection)
        else:
            workers = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
            for thread in workers:
                thread.start()
            while any(thread.is_alive() for thread in workers):
                sys.stdout.write(
                    f"\rBuilding indexes and checking constraints: {done[0]}/{len(statements)} "
                    f"({clock.monotonic() - started:.0f} s)"
                )
                sys.stdout.flush()
                for thread in workers:
                    thread.join(timeout=1)
        sys.stdout.write(
            f"\r{len(statements)} indexes and constraints made in "
            f"{clock.monotonic() - started:.0f} s.{' ' * 30}\n"
        )
        if failed:
            raise CommandError("Not made again (the rows break them): " + "; ".join(failed))

    # The writer --------------------------------------------------------------------------

    def _writer(self, chunks: queue.Queue, failure: list) -> None:
        conn = connections["default"]  # this thread's own connection
        try:
            while (item := chunks.get()) is not None:
                buffers, size = item
                self._write(conn, buffers)
                self.written += size
        except BaseException as error:  # handed to the main thread, which stops
            failure.append(error)
        finally:
            conn.close()

    def _write(self, conn, buffers: dict) -> None:
        with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Off: the history triggers (no events for seeded rows) and the foreign-key
            # triggers (checked once at the end); on: CHECK, NOT NULL, unique, exclusion.
            # SET LOCAL: a rollback undoes it too.
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table, buffer in buffers.items():
                buffer.seek(0)
                cursor.cursor.copy_expert(table.sql, buffer)
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    def _check_foreign_keys(self) -> None:
        orphans = []
        with connection.cursor() as cursor:
            for model in SEEDED:
                for field in model._meta.concrete_fields:
                    if not (field.many_to_one or field.one_to_one):
                        continue
                    target = field.target_field
                    q = connection.ops.quote_name
                    child, column = q(model._meta.db_table), q(field.column)
                    parent, key = q(target.model._meta.db_table), q(target.column)
                    cursor.execute(
                        f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT "  # noqa: S608 - names from the models
                        f"EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = c.{column})"
                    )
                    (count,) = cursor.fetchone()
                    if count:
                        orphans.append(f"{model._meta.db_table}.{field.column}: {count}")
        if orphans:
            raise CommandError("Rows point at nothing: " + "; ".join(orphans))

    # Ids ---------------------------------------------------------------------------------

    def _sequence(self, model) -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [model._meta.db_table, model._meta.pk.column],
            )
            return cursor.fetchone()[0]

    def _first_id(self, model) -> int:
        """The next id of `model`'s sequence: the seed counts on from it (and moves the
        sequence past what it used after every chunk, _reserve)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [self._sequence(model)])
            return cursor.fetchone()[0]

    def _reserve(self, model) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(%s, GREATEST(%s, (SELECT last_value FROM "  # noqa: S608 - a name
                + self._sequence(model)
                + ")))",
                [self._sequence(model), self.ids[model] - 1],
            )

    # Reference rows ----------------------------------------------------------------------

    def _setup(self, clinician_count: int) -> None:
        group = Group.objects.get(name=roles.CLINICIAN)
        self.clinicians = []
        for i in range(clinician_count):
            user, made = User.objects.get_or_create(
                username=f"scale-dr-{i:02d}",
                defaults={"first_name": "Dr", "last_name": f"Scale {i}"},
            )
            if made:
                user.groups.add(group)
            self.clinicians.append(user.pk)
        self.rooms = [
            Room.objects.get_or_create(name=f"Scale room {i:02d}")[0].pk
            for i in range(clinician_count)
        ]
        self.booker, _ = User.objects.get_or_create(username="scale-reception")
        self.booker.groups.add(Group.objects.get(name=roles.CLINIC_STAFF))
        self.lot, made = ProductLot.objects.get_or_create(
            manufacturer="VesiclePharm GmbH",
            lot_number="SCALE-1",
            defaults={
                "product_name": "ExoHair 400",
                "expiry_date": self.today + timedelta(days=3650),
                "certificate_issuer": "TÜV",
                "certificate_valid_until": self.today + timedelta(days=3650),
                "vials_received": 10_000_000,
            },
        )
        if made:
            self.lot.certificate_file.save("scale.pdf", ContentFile(b"%PDF-1.4"))

    def _tables(self) -> None:
        now = self.now
        self.patient_table = CopyTable(
            Patient,
            [
                "id",
                "first_name",
                "last_name",
                "date_of_birth",
                "email",
                "phone",
                "phone_e164",
                "time_zone",
                "reminders_by_sms",
                "contact_consent_at",
                "takes_prescribed_nsaid",
                "prescribed_nsaid",
            ],
            now,
        )
        self.session_table = CopyTable(
            TreatmentSession,
            [
                "id",
                "patient_id",
                "starts_at",
                "ends_at",
                "local_date",
                "gap_until",
                "clinician_id",
                "room_id",
                "status",
                "cancellation_reason",
                "cancelled_at",
                "protocol_id",
                "gap_months",
                "booked_by_id",
                "booked_at",
                "completed_at",
                "completed_by_id",
                "nsaid_decision",
                "nsaid_decided_by_id",
                "nsaid_decided_at",
            ],
            now,
        )
        self.vial_table = CopyTable(SessionVial, ["session_id", "lot_id", "vials"], now)
        self.follow_up_table = CopyTable(
            FollowUp,
            [
                "id",
                "session_id",
                "kind",
                "due_date",
                "due_from",
                "due_until",
                "status",
                "seen_by_id",
                "seen_at",
                "seen_on",
                "hair_density_per_cm2",
                "patient_rating",
                "shared_with_patient",
            ],
            now,
        )
        self.reminder_table = CopyTable(
            Reminder,
            [
                "session_id",
                "follow_up_id",
                "kind",
                "channel",
                "state",
                "due_at",
                "expires_at",
                "not_before",
                "attempts",
                "sent_at",
                "status_note",
            ],
            now,
        )

    def _progress(self, done, total, started):
        done = min(done, total)
        width = 40
        filled = width * self.written // total
        rate = self.written / max(clock.monotonic() - started, 0.001)
        sys.stdout.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.written}/{total} patients written, "
            f"{done} made ({rate:.0f}/s)"
        )
        sys.stdout.flush()

    # The rows ----------------------------------------------------------------------------

    def _slot(self, day):
        """A free (clinician, room, hour) on `day`, or on a later day when that one is full."""
        per_day = len(self.clinicians) * HOURS
        while True:
            n = self.slots.get(day, 0)
            if n < per_day:
                self.slots[day] = n + 1
                return day, n % len(self.clinicians), 8 + n // len(self.clinicians)
            day += timedelta(days=1)

    def _start(self, day: date, hour: int):
        """Cached per (day, hour): the session's instants and their COPY text."""
        key = (day, hour)
        found = self.caches["start"].get(key)
        if found is None:
            starts = datetime.combine(day, time(hour), tzinfo=self.tz)
            gap_until = rules.earliest_next_session(day, gap_months=self.protocol.gap_months)
            plans = [
                (plan.kind, plan.planned, plan.planned.isoformat(), plan.expires.isoformat())
                for plan in rules.session_reminder_plans(
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=1),
                    booked_at=starts - timedelta(days=20),
                    patient_tz=self.tz,
                    terms=self.terms,
                )
            ]
            found = self.caches["start"][key] = (
                starts,
                {
                    "starts": starts.isoformat(),
                    "ends": (starts + timedelta(hours=1)).isoformat(),
                    "day": day.isoformat(),
                    "gap_until": gap_until.isoformat(),
                    "booked": (starts - timedelta(days=20)).isoformat(),
                    "cancelled": (starts - timedelta(days=2)).isoformat(),
                    "completed": (starts + timedelta(hours=1)).isoformat(),
                    "decided": (starts - timedelta(days=10)).isoformat(),
                },
                plans,
            )
        return found

    def _follow_ups(self, day: date):
        """Cached per session day: (kind, due, months after, COPY text of the dates, the
        follow-up reminder's plan)."""
        found = self.caches["fu"].get(day)
        if found is None:
            found = []
            for kind, due in rules.follow_up_due_dates(day, terms=self.terms).items():
                due_from, due_until = rules.follow_up_window(
                    due, session_day=day, window_days=self.terms.follow_up_window_days
                )
                plan = rules.follow_up_reminder_plan(due, patient_tz=self.tz, terms=self.terms)
                found.append(
                    (
                        kind,
                        due,
                        (due - day).days / 30,
                        f"{due.isoformat()}\t{due_from.isoformat()}\t{due_until.isoformat()}",
                        datetime.combine(due, time(11), tzinfo=self.tz).isoformat(),
                        (
                            plan.kind,
                            plan.planned,
                            plan.planned.isoformat(),
                            plan.expires.isoformat(),
                        ),
                    )
                )
            self.caches["fu"][day] = found
        return found

    def _chunk(self, first: int, size: int):
        rng = self.rng
        random_ = rng.random
        now, today = self.now, self.today
        tz_key = self.tz.key
        consent = self.now.isoformat()
        patients_out, sessions_out, vials_out, fus_out, reminders_out = [], [], [], [], []
        counts = {"patients": size, "sessions": 0, "follow_ups": 0, "reminders": 0}
        protocol_id, gap_months = self.protocol.pk, self.protocol.gap_months
        booker, lot = self.booker.pk, self.lot.pk
        five_years = 5 * 365
        horizon = today + timedelta(days=90)
        p_suffix = self.patient_table.suffix
        s_suffix = self.session_table.suffix
        v_suffix = self.vial_table.suffix
        f_suffix = self.follow_up_table.suffix
        r_suffix = self.reminder_table.suffix

        def reminder(session_id, follow_up_id, plan, channel, session_status):
            kind, planned, planned_text, expires_text = plan
            if session_status in ("cancelled", "no_show"):
                state, attempts, sent, note = "withdrawn", "0", "\\N", ""
            elif planned > now:
                state, attempts, sent, note = "pending", "0", "\\N", ""
            else:
                r = random_()
                if r < 0.96:
                    state, attempts, sent, note = "sent", "1", planned_text, ""
                elif r < 0.97:
                    state, attempts, sent, note = "failed", "5", "\\N", "SMS gateway unreachable"
                else:
                    state, attempts, sent, note = "expired", "0", "\\N", ""
            reminders_out.append(
                f"{session_id}\t{follow_up_id}\t{kind}\t{channel}\t{state}\t{planned_text}\t"
                f"{expires_text}\t{planned_text}\t{attempts}\t{sent}\t{note}{r_suffix}"
            )

        for i in range(first, first + size):
            patient_id = self.ids[Patient]
            self.ids[Patient] += 1
            fresh = random_() < 0.02  # never treated: the benchmark books them
            sms = random_() < 0.3
            nsaid = random_() < 0.05
            born = today - timedelta(days=rng.randint(25 * 365, 70 * 365))
            patients_out.append(
                f"{patient_id}\t{rng.choice(FIRST)}\t{rng.choice(LAST)}\t{born.isoformat()}\t"
                f"scale-{'new-' if fresh else ''}{i}@example.test\t+49 170 {i:07d}\t"
                f"+49170{i:07d}\t{tz_key}\t{'t' if sms else 'f'}\t{consent}\t"
                f"{'t' if nsaid else 'f'}\t{'Aspirin 100 mg daily' if nsaid else ''}{p_suffix}"
            )
            if fresh:
                continue
            channels = ("email", "sms") if sms else ("email",)
            count = rng.choice((1, 2, 2, 3, 3, 4))
            day = today - timedelta(days=rng.randint(30, five_years))
            for _ in range(count):
                if day > horizon:
                    break
                day, c, hour = self._slot(day)
                starts, text, plans = self._start(day, hour)
                if starts > now:
                    status = "scheduled"
                else:
                    r = random_()
                    status = "completed" if r < 0.9 else ("cancelled" if r < 0.95 else "no_show")
                session_id = self.ids[TreatmentSession]
                self.ids[TreatmentSession] += 1
                clinician = self.clinicians[c]
                completed = status == "completed"
                cancelled = status == "cancelled"
                sessions_out.append(
                    f"{session_id}\t{patient_id}\t{text['starts']}\t{text['ends']}\t"
                    f"{text['day']}\t{text['gap_until']}\t{clinician}\t{self.rooms[c]}\t{status}\t"
                    f"{'Patient unwell' if cancelled else ''}\t"
                    f"{text['cancelled'] if cancelled else NULL}\t{protocol_id}\t{gap_months}\t"
                    f"{booker}\t{text['booked']}\t"
                    f"{text['completed'] if completed else NULL}\t"
                    f"{clinician if completed else NULL}\t"
                    f"{'Continue as prescribed' if nsaid else ''}\t"
                    f"{clinician if nsaid else NULL}\t{text['decided'] if nsaid else NULL}"
                    f"{s_suffix}"
                )
                counts["sessions"] += 1
                if completed:
                    vials_out.append(f"{session_id}\t{lot}\t1{v_suffix}")
                for plan in plans:
                    for channel in channels:
                        reminder(session_id, "\\N", plan, channel, status)
                for kind, due, months, dates, seen_at, plan in self._follow_ups(day):
                    if status in ("cancelled", "no_show"):
                        fu_status = "cancelled"
                    elif due >= today or not completed:
                        fu_status = "planned"
                    else:
                        r = random_()
                        fu_status = "done" if r < 0.8 else ("missed" if r < 0.9 else "planned")
                    follow_up_id = self.ids[FollowUp]
                    self.ids[FollowUp] += 1
                    if fu_status == "done":
                        density = f"{110 + months * 2 + random_() * 10:.1f}"
                        rating = min(10, 5 + int(months // 3) + rng.randint(0, 2))
                        fus_out.append(
                            f"{follow_up_id}\t{session_id}\t{kind}\t{dates}\tdone\t{clinician}\t"
                            f"{seen_at}\t{due.isoformat()}\t{density}\t{rating}\tt{f_suffix}"
                        )
                    else:
                        fus_out.append(
                            f"{follow_up_id}\t{session_id}\t{kind}\t{dates}\t{fu_status}\t\\N\t"
                            f"\\N\t\\N\t\\N\t\\N\tf{f_suffix}"
                        )
                    if fu_status != "cancelled" and completed:
                        reminder(session_id, follow_up_id, plan, "email", status)
                day = rules.add_months(day, 7)
        counts["follow_ups"] = len(fus_out)
        counts["reminders"] = len(reminders_out)
        buffers = {
            self.patient_table: io.StringIO("".join(patients_out)),
            self.session_table: io.StringIO("".join(sessions_out)),
            self.vial_table: io.StringIO("".join(vials_out)),
            self.follow_up_table: io.StringIO("".join(fus_out)),
            self.reminder_table: io.StringIO("".join(reminders_out)),
        }
        return buffers, counts
