#!/usr/bin/env python
"""
In-process cost of the key pages: no web server, no wrk, so it can run on a busy machine
(the figures still move with the load: compare runs made one after the other).

    .venv/bin/python bench/profile_pages.py --db clinic_bench_1000 --n 200
    .venv/bin/python bench/profile_pages.py --db clinic_bench_1000 --profile   # flame graphs

With production settings (DEBUG=0, as bench/load.py starts gunicorn) it runs bench/prepare.py
on that database (the signed-in users, the bench booking patients: it WRITES there, so point
it at a bench database or a copy), then drives each page through Django's full middleware
stack with the test client: a warm-up, then `--n` requests, and prints the median and p90
milliseconds per request and the SQL queries of one request. `--profile` records each page's
requests with pyinstrument and saves an HTML flame graph per page in bench/profiles/.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PAGES = [
    "ceiling",
    "schedule_day",
    "patient_search",
    "patient_page",
    "review_overdue",
    "booking_page",
    "booking_valid",
    "booking_refused",
    "portal_home",
    "recall_list",
]


def production_env(db: str) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from load import env_for  # the same settings as the load benchmark's gunicorn

    env = env_for(0)
    env["DATABASE_URL"] = f"{SERVER}/{db}"
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="clinic_bench_1000")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=PAGES)
    parser.add_argument("--profile", action="store_true", help="pyinstrument HTML per page")
    parser.add_argument("--out", default=str(ROOT / "bench" / "profiles"))
    parser.add_argument(
        "--interval", type=float, default=0.002, help="seconds of CPU between samples"
    )
    parser.add_argument("--show-queries", action="store_true", help="print one request's SQL")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    env = production_env(args.db)
    if not (ROOT / "staticfiles" / "staticfiles.json").exists():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    prepared = subprocess.run(
        [sys.executable, "bench/prepare.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    prep = json.loads(prepared.stdout.strip().splitlines()[-1])
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    figures = {}
    valid_counter = iter(range(10**9))
    clinicians, rooms = prep["clinicians"], prep["rooms"]
    pairs = min(len(clinicians), len(rooms))

    def valid_booking():
        """A fresh bench patient, on a weekday in 2035 at an hour no earlier request took."""
        k = next(valid_counter)
        slot = k // pairs
        day = date(2035, 1, 8) + timedelta(days=7 * (slot // 40) + (slot // 8) % 5)
        return (
            f"/patients/{prep['book_ids'][k % len(prep['book_ids'])]}/book/",
            {
                "day": str(day),
                "time": f"{9 + slot % 8:02d}:00",
                "duration": "60",
                "clinician": clinicians[k % pairs],
                "room": rooms[k % pairs],
                "far_ahead_confirmed": "on",
            },
        )

    def make_request(name, client):
        method, path, who = prep["pages"][name]
        if method == "GET":
            return client.get(path)
        import uuid

        if name == "booking_valid":
            path, data = valid_booking()
        else:
            data = {
                "day": prep["refused"]["day"],
                "time": "10:00",
                "duration": "60",
                "clinician": clinicians[0],
                "room": rooms[0],
            }
        data["booking_key"] = str(uuid.uuid4())
        return client.post(path, data, HTTP_X_CSRFTOKEN=prep["csrf"])

    def refusal(response):
        import re

        text = response.content.decode()
        return (
            re.findall(r"(?:invalid-feedback|alert-danger|errorlist)[^>]*>(.{0,300})", text, re.S)
            or text[:200]
        )

    for name in args.pages:
        method, path, who = prep["pages"][name]
        client = Client(enforce_csrf_checks=True)
        if who:
            for part in prep["cookies"][who].split("; "):
                key, value = part.split("=", 1)
                client.cookies[key] = value
        expected = 302 if name == "booking_valid" else 200
        for _ in range(20):
            response = make_request(name, client)
            assert response.status_code == expected, (name, response.status_code, refusal(response))
        queries = []
        with connection.execute_wrapper(
            lambda execute, sql, *a, log=queries: log.append(sql) or execute(sql, *a)
        ):
            make_request(name, client)
        if args.show_queries:
            print("\n".join(f"    {sql[:160]}" for sql in queries))
        times, cpu = [], []
        profiler = None
        if args.profile:
            from pyinstrument import Profiler
            from pyinstrument.stack_sampler import get_stack_sampler

            # Sample this process's CPU time, not the wall clock: on a shared machine the
            # waits for the CPU (and for PostgreSQL) would fill the graph.
            get_stack_sampler().timer_func = time.process_time
            profiler = Profiler(interval=args.interval)
            profiler.start()
        for _ in range(args.n):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = make_request(name, client)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == expected, (name, response.status_code, refusal(response))
        if profiler:
            profiler.stop()
            Path(args.out).mkdir(parents=True, exist_ok=True)
            Path(args.out, f"{name}.html").write_text(profiler.output_html())
            Path(args.out, f"{name}.txt").write_text(
                profiler.output_text(unicode=True, show_all=False)
            )
        times.sort()
        figures[name] = {
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(len(times) * 0.9)], 2),
            "cpu_median_ms": round(statistics.median(cpu), 2),
            "queries": len(queries),
        }
        print(
            f"{name:<16} median {figures[name]['median_ms']:>6.2f} ms   "
            f"p90 {figures[name]['p90_ms']:>6.2f} ms   CPU median "
            f"{figures[name]['cpu_median_ms']:>6.2f} ms   {figures[name]['queries']:>3} queries",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
