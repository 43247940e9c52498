"""
A large, realistic clinic group for measuring speed: N patients (default 100,000) with about
2.5 sessions each over five years, their follow-ups with measurements, and their reminders in
every state. Written in batches with bulk inserts (the services would take hours at this
size); the rows obey every database rule (gaps, no double booking) and the dates come from
treatments.rules. Refuses to run twice on one database. (It lives in the reminders app, the
highest domain app, because it writes every table up to the reminder outbox.)
"""

import random
import sys
import time as clock
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts import roles
from patients.models import Patient
from reminders.models import Reminder
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
CLINICIANS = 40
HOURS = 9  # 08:00 to 16:00 starts, one hour each
BATCH = 2000


class Command(BaseCommand):
    help = "Seed a large data set for benchmarks: --patients N (default 100,000)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        # The rows this writes are in the history as the command's, not as "unknown".
        with history_context(actor="system: seed_scale"):
            return self._seed(*args, **options)

    def _seed(self, *args, patients: int, seed: int, **options):
        existing = Patient.objects.filter(email__startswith="scale-").count()
        if existing:
            raise CommandError(
                f"This database already holds scale data ({existing} patients). Seed a fresh "
                "database instead (the benchmark uses clinic_bench_<N>)."
            )
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.tz = timezone.get_default_timezone()
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.protocol = ProtocolVersion.objects.in_force_on(self.today)
        self.terms = self.protocol.terms
        self._setup()
        self.slots: dict = {}
        started = clock.monotonic()
        totals = {"patients": 0, "sessions": 0, "follow_ups": 0, "reminders": 0}
        for first in range(0, patients, BATCH):
            with transaction.atomic():
                counts = self._batch(first, min(BATCH, patients - first))
            for key, value in counts.items():
                totals[key] += value
            self._progress(first + BATCH, patients, started)
        sys.stdout.write("\n")
        if connection.vendor == "postgresql":
            # The steady state autovacuum gives a live database: statistics for the planner
            # and visibility maps for index-only scans.
            sys.stdout.write("VACUUM ANALYZE...\n")
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        self.stdout.write(
            self.style.SUCCESS(
                "Seeded in {:.0f} s: {patients} patients, {sessions} sessions, {follow_ups} "
                "follow-ups, {reminders} reminders.".format(clock.monotonic() - started, **totals)
            )
        )

    def _progress(self, done, total, started):
        done = min(done, total)
        width = 40
        filled = width * done // total
        rate = done / max(clock.monotonic() - started, 0.001)
        sys.stdout.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} patients ({rate:.0f}/s)"
        )
        sys.stdout.flush()

    def _setup(self):
        group = Group.objects.get(name=roles.CLINICIAN)
        self.clinicians = []
        for i in range(CLINICIANS):
            user, made = User.objects.get_or_create(
                username=f"scale-dr-{i:02d}",
                defaults={"first_name": "Dr", "last_name": f"Scale {i}"},
            )
            if made:
                user.groups.add(group)
            self.clinicians.append(user)
        self.rooms = [
            Room.objects.get_or_create(name=f"Scale room {i:02d}")[0] for i in range(CLINICIANS)
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
                "vials_received": 1_000_000,
            },
        )
        if made:
            self.lot.certificate_file.save("scale.pdf", ContentFile(b"%PDF-1.4"))

    def _slot(self, day):
        """A free (clinician, room, hour) on `day`, or on a later day when that one is full."""
        while True:
            n = self.slots.get(day, 0)
            if n < CLINICIANS * HOURS:
                self.slots[day] = n + 1
                return day, n % CLINICIANS, 8 + n // CLINICIANS
            day += timedelta(days=1)

    def _batch(self, first: int, size: int) -> dict:
        rng = self.rng
        new_patients = []
        for i in range(first, first + size):
            fresh = rng.random() < 0.02  # never treated: the benchmark books them
            new_patients.append(
                Patient(
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    date_of_birth=self.today - timedelta(days=rng.randint(25 * 365, 70 * 365)),
                    email=f"scale-{'new-' if fresh else ''}{i}@example.test",
                    phone=f"+49 170 {i:07d}",
                    time_zone=self.tz.key,
                    reminders_by_sms=rng.random() < 0.3,
                    contact_consent_at=self.now,
                    takes_prescribed_nsaid=rng.random() < 0.05,
                    prescribed_nsaid="Aspirin 100 mg daily",
                )
            )
        for p in new_patients:
            if not p.takes_prescribed_nsaid:
                p.prescribed_nsaid = ""
        Patient.objects.bulk_create(new_patients)

        sessions = []
        five_years = 5 * 365
        for patient in new_patients:
            if patient.email.startswith("scale-new-"):
                continue
            count = rng.choice((1, 2, 2, 3, 3, 4))
            day = self.today - timedelta(days=rng.randint(30, five_years))
            for _ in range(count):
                if day > self.today + timedelta(days=90):
                    break
                day, c, hour = self._slot(day)
                starts = datetime.combine(day, time(hour), tzinfo=self.tz)
                if starts > self.now:
                    status = "scheduled"
                else:
                    status = rng.choices(("completed", "cancelled", "no_show"), (90, 5, 5))[0]
                sessions.append(
                    TreatmentSession(
                        patient=patient,
                        starts_at=starts,
                        ends_at=starts + timedelta(hours=1),
                        clinician=self.clinicians[c],
                        room=self.rooms[c],
                        status=status,
                        cancellation_reason="Patient unwell" if status == "cancelled" else "",
                        cancelled_at=starts - timedelta(days=2) if status == "cancelled" else None,
                        protocol=self.protocol,
                        gap_months=self.protocol.gap_months,
                        local_date=day,
                        gap_until=rules.earliest_next_session(
                            day, gap_months=self.protocol.gap_months
                        ),
                        booked_by=self.booker,
                        booked_at=starts - timedelta(days=20),
                        completed_at=starts + timedelta(hours=1) if status == "completed" else None,
                        completed_by=self.clinicians[c] if status == "completed" else None,
                        nsaid_decision="Continue as prescribed"
                        if patient.takes_prescribed_nsaid
                        else "",
                        nsaid_decided_by=self.clinicians[c]
                        if patient.takes_prescribed_nsaid
                        else None,
                        nsaid_decided_at=starts - timedelta(days=10)
                        if patient.takes_prescribed_nsaid
                        else None,
                    )
                )
                day = rules.add_months(day, 7)
        TreatmentSession.objects.bulk_create(sessions)
        SessionVial.objects.bulk_create(
            SessionVial(session=s, lot=self.lot, vials=1)
            for s in sessions
            if s.status == "completed"
        )

        follow_ups = []
        for s in sessions:
            for kind, due in rules.follow_up_due_dates(s.local_date, terms=self.terms).items():
                if s.status in ("cancelled", "no_show"):
                    status = "cancelled"
                elif due >= self.today or s.status != "completed":
                    status = "planned"
                else:
                    status = rng.choices(("done", "missed", "planned"), (80, 10, 10))[0]
                done = status == "done"
                months = (due - s.local_date).days / 30
                due_from, due_until = rules.follow_up_window(
                    due, session_day=s.local_date, window_days=self.terms.follow_up_window_days
                )
                follow_ups.append(
                    FollowUp(
                        session=s,
                        kind=kind,
                        due_date=due,
                        due_from=due_from,
                        due_until=due_until,
                        status=status,
                        seen_by=s.clinician if done else None,
                        seen_at=datetime.combine(due, time(11), tzinfo=self.tz) if done else None,
                        seen_on=due if done else None,
                        hair_density_per_cm2=Decimal(f"{110 + months * 2 + rng.random() * 10:.1f}")
                        if done
                        else None,
                        patient_rating=min(10, 5 + int(months // 3) + rng.randint(0, 2))
                        if done
                        else None,
                        shared_with_patient=done,
                    )
                )
        FollowUp.objects.bulk_create(follow_ups)

        reminders = []
        for s in sessions:
            channels = ["email"] + (["sms"] if s.patient.reminders_by_sms else [])
            plans = rules.session_reminder_plans(
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                booked_at=s.booked_at,
                patient_tz=self.tz,
                terms=self.terms,
            )
            for plan in plans:
                for channel in channels:
                    reminders.append(self._reminder(s, None, plan, channel))
        for f in follow_ups:
            if f.status != "cancelled" and f.session.status == "completed":
                plan = rules.follow_up_reminder_plan(
                    f.due_date, patient_tz=self.tz, terms=self.terms
                )
                reminders.append(self._reminder(f.session, f, plan, "email"))
        Reminder.objects.bulk_create(reminders, batch_size=5000)
        return {
            "patients": len(new_patients),
            "sessions": len(sessions),
            "follow_ups": len(follow_ups),
            "reminders": len(reminders),
        }

    def _reminder(self, session, follow_up, plan, channel):
        due = plan.planned
        if session.status in ("cancelled", "no_show"):
            state = "withdrawn"
        elif due > self.now:
            state = "pending"
        else:
            state = self.rng.choices(("sent", "failed", "expired"), (96, 1, 3))[0]
        return Reminder(
            session=session,
            follow_up=follow_up,
            kind=plan.kind,
            channel=channel,
            state=state,
            due_at=due,
            expires_at=plan.expires,
            not_before=due,
            attempts=1 if state == "sent" else (5 if state == "failed" else 0),
            sent_at=due if state == "sent" else None,
            status_note="SMS gateway unreachable" if state == "failed" else "",
        )
