#!/usr/bin/env python
"""
The slot finder's own benchmark (issue 15: "a month of slots for one site in one
query-bounded call, p95 < 50 ms at the 100,000-patient bench data"): in-process, no web
server. For `--patients` random patients (a fixed seed) it times
`treatments.slots.free_slots` over `--days` days from today at one site, and prints p50, p95
and max in milliseconds (all patients, and those the gap leaves the whole month open to:
the full work), the SQL queries per call (the same whatever the patient; two when the gap
rules out the whole range), this process's CPU time per call (less sensitive to a loaded
machine) and the slots found; `--explain` adds EXPLAIN (ANALYZE, BUFFERS) of each query of
one call, flagging sequential scans.

Read-only: every call runs in a READ ONLY transaction that is rolled back, so it can be
pointed at a shared bench database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic_bench_100000 \\
        python bench/slots.py --patients 100 --explain

Wall-clock figures move with the machine's load; the query count and the plans do not.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from patients.models import Patient  # noqa: E402
from sites.models import Site  # noqa: E402
from treatments import rules  # noqa: E402
from treatments.slots import free_slots  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def read_only():
    """A transaction that can write nothing, rolled back at the end."""

    class ReadOnly:
        def __enter__(self):
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
            return self

        def __exit__(self, *exc):
            transaction.set_rollback(True)
            return self.atomic.__exit__(*exc)

    return ReadOnly()


def sample_patients(count: int, seed: int) -> list[Patient]:
    """`count` random patients not merged away (by id, without a sort of the whole table)."""
    ids = list(Patient.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
    chosen = random.Random(seed).sample(ids, min(count, len(ids)))
    by_id = Patient.objects.in_bulk(chosen)
    return [by_id[pk] for pk in chosen]


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def explain(sql: str, params) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=int, default=31, help="the range, from today")
    parser.add_argument("--site", type=int, help="the site's id (default: the first active)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument(
        "--limit", type=int, help="at most this many slots (the booking page asks for 8)"
    )
    args = parser.parse_args()

    site = (
        Site.objects.get(pk=args.site)
        if args.site
        else Site.objects.filter(is_active=True).order_by("pk").first()
    )
    now = timezone.now()
    first = rules.local_day(now, site.tz)
    last = first + timedelta(days=args.days - 1)
    patients = sample_patients(args.patients, args.seed)
    timings, cpu, queries, found = [], [], [], []
    with read_only():
        free_slots(patient=patients[0], site=site, start_day=first, end_day=last, now=now)  # warm
        for patient in patients:
            # Counted, not kept: a growing query log (DEBUG) would inflate the garbage
            # collector's work, which shows in the tail.
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                started, started_cpu = time.perf_counter(), time.process_time()
                slots = free_slots(
                    patient=patient,
                    site=site,
                    start_day=first,
                    end_day=last,
                    now=now,
                    limit=args.limit,
                )
                timings.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            reset_queries()
            queries.append(counter.count)
            found.append(len(slots))
        print(
            f"free_slots at {site.name} ({site.time_zone}), {first} to {last} "
            f"({args.days} days{f', limit {args.limit}' if args.limit else ''}), "
            f"{len(patients)} patients of "
            f"{Patient.objects.count()}:"
        )
        print(
            f"  p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
            f"max {max(timings):.1f} ms; queries per call {min(queries)}–{max(queries)}; "
            f"slots found {min(found)}–{max(found)} (median {statistics.median(found):.0f})"
        )
        full = [t for t, n in zip(timings, queries, strict=True) if n == max(queries)]
        print(
            f"  the {len(full)} calls with every query (the month open to the patient): "
            f"p50 {statistics.median(full):.1f} ms, p95 {percentile(full, 0.95):.1f} ms"
        )
        print(
            f"  this process's CPU (less the waits for PostgreSQL and for the cores): "
            f"p50 {statistics.median(cpu):.1f} ms, p95 {percentile(cpu, 0.95):.1f} ms"
        )
        if args.explain:
            with CaptureQueriesContext(connection) as captured:
                free_slots(patient=patients[0], site=site, start_day=first, end_day=last, now=now)
            cursor = connection.cursor()
            for n, query in enumerate(captured.captured_queries, 1):
                sql = query["sql"]
                plan = explain(sql, None) if "%s" not in sql else []
                if not plan:  # Django logs the SQL with its parameters inlined
                    plan = [row[0] for row in _explain_inlined(cursor, sql)]
                seq = [line.strip() for line in plan if "Seq Scan" in line]
                print(f"\n[{n}] {sql[:300]}{'…' if len(sql) > 300 else ''}")
                for line in plan:
                    print("    " + line)
                if seq:
                    print("    ! sequential scan: " + "; ".join(seq))


def _explain_inlined(cursor, sql: str):
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    return cursor.fetchall()


if __name__ == "__main__":
    main()
