#!/usr/bin/env python
"""
Part of `make bench` (bench/load.py runs it once per data size, with DATABASE_URL set):
makes the signed-in users and their session cookies, the bench-only patients that the valid
booking POSTs book, counts each page's SQL queries, and runs EXPLAIN on every one of them
(and on the reminder dispatcher's claim), reporting any sequential scan of a big table.
Prints one JSON object.

With --analyze (bench/load.py --explain-only) it also times each page in-process (the median
of five requests after the first; a POST once) and runs EXPLAIN (ANALYZE, BUFFERS) instead of
EXPLAIN: the time in SQL and the slowest query per page; --plans DIR writes every plan there.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from accounts import roles, two_factor  # noqa: E402
from consents.models import ConsentVersion  # noqa: E402
from patients.models import Patient  # noqa: E402
from reminders.models import Reminder  # noqa: E402
from treatments.models import (  # noqa: E402
    FreedSlot,
    Room,
    TreatmentSession,
    WaitlistEntry,
    WaitlistOffer,
)

BOOKING_PATIENTS = 6000
BIG_TABLE_ROWS = 10_000
CSRF = "benchbenchbenchbenchbenchbench12"  # a 32-character CSRF secret, cookie and header


def user(username, role=None, superuser=False):
    account, _ = User.objects.get_or_create(username=username, defaults={"is_superuser": superuser})
    if role:
        account.groups.add(Group.objects.get(name=role))
    return account


def second_factor(account) -> dict:
    """Staff sign in with their second factor, as in production (STAFF_2FA_REQUIRED is on
    with DEBUG=0): a confirmed authenticator and the session keys a verified sign-in leaves
    (accounts.two_factor.bind_session). Patients have none."""
    if not roles.is_staff_member(account):
        return {}
    device, _ = TOTPDevice.objects.get_or_create(
        user=account, name="bench", defaults={"confirmed": True}
    )
    return {DEVICE_ID_SESSION_KEY: device.persistent_id, two_factor.ENROLLED_SESSION_KEY: True}


def sign_in(client, account) -> None:
    client.force_login(account)
    session = client.session
    session.update(second_factor(account))
    session.save()


def cookie_for(account) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(account.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.ClinicModelBackend"
    store[HASH_SESSION_KEY] = account.get_session_auth_hash()
    store.update(second_factor(account))
    store.set_expiry(24 * 3600)
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}; csrftoken={CSRF}"


def booking_patients() -> list[int]:
    """Fresh patients that the valid booking POSTs book, one each (reset on every run)."""
    old = Patient.objects.filter(email__startswith="bench-book-")
    TreatmentSession.objects.filter(patient__in=old).delete()
    old.delete()
    made = Patient.objects.bulk_create(
        Patient(
            first_name="Bench",
            last_name=f"Booking {i}",
            date_of_birth="1980-01-01",
            email=f"bench-book-{i}@example.test",
            contact_consent_at=timezone.now(),
        )
        for i in range(BOOKING_PATIENTS)
    )
    return [p.pk for p in made]


def waitlist_offer(upcoming: TreatmentSession) -> tuple[User, WaitlistOffer]:
    """A bench patient on the waitlist at the upcoming session's site, offered that session's
    time (as if it had been freed; the page only reads it). The same rows on every run: the
    first run's offer stays (its session's time, later runs' `upcoming` being later ones)."""
    waiter = user("bench-waitlist@example.test", roles.PATIENT)
    patient, _ = Patient.objects.get_or_create(
        email="bench-waitlist@example.test",
        defaults={
            "first_name": "Bench",
            "last_name": "Waitlist",
            "date_of_birth": "1980-01-01",
            "contact_consent_at": timezone.now(),
            "user": waiter,
        },
    )
    entry = WaitlistEntry.objects.filter(patient=patient, status="waiting").first()
    entry = entry or WaitlistEntry.objects.create(patient=patient, site_id=upcoming.site_id)
    # The entry's live offer from an earlier run, if any: `upcoming` moves on as time
    # passes, and an entry holds one live offer at a time (waitlist_offer_one_live_per_entry).
    offer = WaitlistOffer.objects.filter(entry=entry, status="offered").first()
    if offer is None:
        freed, _ = FreedSlot.objects.get_or_create(
            session=upcoming,
            occasion=32000,  # beyond any real reschedule count: never a real change's row
            defaults={
                "site_id": upcoming.site_id,
                "clinician_id": upcoming.clinician_id,
                "room_id": upcoming.room_id,
                "starts_at": upcoming.starts_at,
                "ends_at": upcoming.ends_at,
                "status": "closed",  # not open: no worker offers it to anyone
            },
        )
        offer, _ = WaitlistOffer.objects.get_or_create(
            freed_slot=freed,
            entry=entry,
            defaults={"patient": patient, "expires_at": timezone.now() + timedelta(days=3650)},
        )
    return waiter, offer


def analyze_as_autovacuum_would() -> list[str]:
    """ANALYZE the tables autovacuum would have analyzed by now with PostgreSQL's defaults
    (rows changed since the last analyze > 50 + 10% of the table). This machine's PostgreSQL
    runs with autovacuum off (its CI configuration), so the rows the bench's own requests add
    (a read logged per patient page, bookings, history events) were never counted: at the
    next run the planner took the bench patient's 22,712 logged reads for 19 and sorted them
    all for a page of 25. A live server's autovacuum keeps these statistics."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
            WHERE s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)"""
        )
        stale = [row[0] for row in cursor.fetchall()]
        for table in stale:
            cursor.execute(f'ANALYZE "{table}"')
    return stale


def big_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s", [BIG_TABLE_ROWS]
        )
        return {row[0] for row in cursor.fetchall()}


def explain(sql: str, analyze: bool = False, params=None) -> str | None:
    """The plan of a read (None for a write: a write in a request carries pghistory's context
    as a `SELECT set_config(...);` prefix, and EXPLAIN would run the write after it). A read
    may start with WITH (the history page's); one that writes in its WITH is a write."""
    words = sql.upper()
    read = words.lstrip().startswith("SELECT") or (
        words.lstrip().startswith("WITH") and not re.search(r"\b(INSERT|UPDATE|DELETE)\b", words)
    )
    if not read or "set_config('pghistory." in sql:
        return None
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def scans_in(plan: str | None, big: set[str]) -> list[str]:
    return sorted({t for t in re.findall(r"Seq Scan on (\w+)", plan or "") if t in big})


def seq_scans(sql: str, big: set[str], params=None) -> list[str]:
    return scans_in(explain(sql, params=params), big)


def analyze_page(name, queries, big, page_ms, plans_dir) -> tuple[dict, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each of a page's queries: the time in SQL, the slowest
    query, the big tables read sequentially; the plans written to plans_dir/<name>.txt."""
    total, slowest, slowest_sql, scans, text = 0.0, 0.0, "", set(), []
    for number, query in enumerate(queries, 1):
        plan = explain(query["sql"], analyze=True, params=query["params"])
        if plan is None:
            text.append(f"-- {number}: (a write, not explained)\n{query['sql']}\n")
            continue
        found = re.search(r"Execution Time: ([\d.]+) ms", plan)
        ms = float(found.group(1)) if found else 0.0
        total += ms
        if ms >= slowest:
            slowest, slowest_sql = ms, query["sql"]
        scans.update(scans_in(plan, big))
        text.append(f"-- {number}: {ms:.2f} ms\n{query['sql']}\n{plan}\n")
    if plans_dir:
        Path(plans_dir).mkdir(parents=True, exist_ok=True)
        (Path(plans_dir) / f"{name}.txt").write_text("\n".join(text))
    summary = {
        "page_ms": page_ms,
        "sql_ms": total,
        "slowest_ms": slowest,
        "slowest_sql": " ".join(slowest_sql.split())[:300],
    }
    return summary, sorted(scans)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--analyze", action="store_true")
    parser.add_argument("--plans")
    args = parser.parse_args()
    analyze_as_autovacuum_would()
    staff = user("scale-reception", roles.CLINIC_STAFF)
    admin = user("bench-admin", roles.CLINIC_ADMIN, superuser=True)
    now = timezone.now()
    upcoming = (
        TreatmentSession.objects.filter(
            status="scheduled",
            starts_at__gt=now + timedelta(days=5),
            patient__email__startswith="scale-",
        )
        .select_related("patient")
        .order_by("starts_at")
        .first()
    )
    patient = upcoming.patient
    patient_user = patient.user or user(f"bench-patient-{patient.pk}", roles.PATIENT)
    if patient.user_id is None:
        patient.user = patient_user
        patient.save(update_fields=["user"])
    busiest_day = (
        TreatmentSession.objects.filter(local_date__lte=timezone.localdate())
        .order_by("-local_date")
        .values_list("local_date", flat=True)
        .first()
    )
    clinicians = list(
        User.objects.filter(username__startswith="scale-dr-")
        .order_by("username")
        .values_list("pk", flat=True)
    )
    rooms = list(
        Room.objects.filter(name__startswith="Scale room")
        .order_by("name")
        .values_list("pk", flat=True)
    )
    book_ids = booking_patients()
    refused_day = upcoming.local_date + timedelta(days=1)
    waiter, offer = waitlist_offer(upcoming)

    consent = (
        ConsentVersion.objects.filter(document__kind="treatment", published_at__isnull=False)
        .order_by("-number")
        .first()
    )
    pages = {
        "ceiling": ("GET", "/ping", None),
        "schedule_day": ("GET", f"/schedule/?day={busiest_day}", "staff"),
        "patient_search": ("GET", "/patients/?q=santos", "staff"),
        "patient_page": ("GET", f"/patients/{patient.pk}/", "staff"),
        "review_overdue": ("GET", "/follow-ups/review/?status=overdue", "admin"),
        # The booking page with its next free slots (the slot finder, a month for one site).
        "booking_page": ("GET", f"/patients/{book_ids[0]}/book/", "staff"),
        "booking_valid": ("POST", "/patients/{id}/book/", "staff"),
        "booking_refused": ("POST", f"/patients/{patient.pk}/book/", "staff"),
        "portal_home": ("GET", "/portal/", "patient"),
        # Issue 14: the desk's consent signing page, a patient's signatures, the intake
        # questionnaire, the before/after comparison.
        "consent_sign": (
            "GET",
            f"/patients/{patient.pk}/consents/{consent.pk if consent else 0}/sign/",
            "staff",
        ),
        "patient_consents": ("GET", f"/patients/{patient.pk}/consents/", "staff"),
        "portal_intake": ("GET", "/portal/intake/", "patient"),
        "photo_compare": ("GET", f"/patients/{patient.pk}/compare/", "admin"),
        "portal_booking": ("GET", "/portal/book/", "patient"),
        "recall_list": ("GET", "/recall/", "staff"),
        # Issue 15: the waitlist (a patient without a session: the finder's first free time),
        # an offer's page, the staff list.
        "portal_waitlist": ("GET", "/portal/waitlist/", "waiter"),
        "portal_waitlist_offer": ("GET", f"/portal/waitlist/offers/{offer.pk}/", "waiter"),
        "staff_waitlist": ("GET", "/waitlist/", "staff"),
        # Issues 17 and 13: the bench patient's message log (both directions) and their
        # record's history (its changes and who read it: every request of the patient page above
        # adds a read, so this page grows during the bench as it would in a clinic).
        "message_log": ("GET", f"/patients/{patient.pk}/messages/", "staff"),
        "patient_history": ("GET", f"/patients/{patient.pk}/history/", "admin"),
    }
    accounts = {"staff": staff, "admin": admin, "patient": patient_user, "waiter": waiter}

    big = big_tables()
    queries, scans, analyzed = {}, {}, {}
    for name, (method, path, who) in pages.items():
        client = Client()
        if who:
            sign_in(client, accounts[who])
        data = {
            "day": str(refused_day),
            "time": "10:00",
            "duration": "60",
            "clinician": clinicians[0],
            "room": rooms[0],
            # A key of its own, as every POST of the load has: the valid booking's key again
            # made the refused POST read the session booked with it (one query more).
            "booking_key": str(uuid.uuid4()),
        }
        # Every statement the request sends (CaptureQueriesContext would miss the first ones:
        # a request's start empties the query log it slices).
        sent: list[tuple] = []
        started = time.perf_counter()
        with connection.execute_wrapper(
            lambda execute, sql, params, many, context, log=sent: (
                log.append((sql, params, many)) or execute(sql, params, many, context)
            )
        ):
            if method == "GET":
                response = client.get(path)
            elif name == "booking_valid":
                # Beyond FAR_AHEAD_YEARS, as the bench's valid bookings: confirmed so.
                data.update(day="2034-12-31", time="08:00", far_ahead_confirmed="on")
                response = client.post(path.format(id=book_ids[-1]), data)
                assert response.status_code == 302, "the valid booking was refused"
            else:
                response = client.post(path, data)
        page_ms = (time.perf_counter() - started) * 1000
        assert response.status_code in (200, 302), (name, response.status_code)
        assert "two-factor" not in response.get("Location", ""), (name, response["Location"])
        captured = [{"sql": sql, "params": params} for sql, params, many in sent if not many]
        queries[name] = len(sent)
        if args.analyze:
            if method == "GET":
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                page_ms = statistics.median(times)
            analyzed[name], scans[name] = analyze_page(name, captured, big, page_ms, args.plans)
        else:
            scans[name] = sorted(
                {t for q in captured for t in seq_scans(q["sql"], big, q["params"])}
            )
    TreatmentSession.objects.filter(patient_id=book_ids[-1]).delete()

    claim = (
        Reminder.objects.filter(state="pending", not_before__lte=now)
        .order_by("not_before")
        .values_list("pk", flat=True)[:100]
    )
    sql, params = claim.query.sql_with_params()
    with connection.cursor() as cursor:
        scans["dispatcher_claim"] = seq_scans(cursor.cursor.mogrify(sql, params).decode(), big)

    print(
        json.dumps(
            {
                "cookies": {who: cookie_for(a) for who, a in accounts.items()},
                "csrf": CSRF,
                "pages": pages,
                "queries": queries,
                "seq_scans": scans,
                "analyze": analyzed,
                "book_ids": book_ids,
                "clinicians": clinicians,
                "rooms": rooms,
                "refused": {"patient": patient.pk, "day": str(refused_day)},
                "patients": Patient.objects.filter(email__startswith="scale-").count(),
                "reminders": Reminder.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
