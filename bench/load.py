#!/usr/bin/env python
"""
`make bench`: the load benchmark. For each data size (default 1,000, 100,000 and 1,000,000
patients, each in its own database clinic_bench_<N>, seeded by seed_scale when missing; the
prefix is BENCH_DB_PREFIX's, and --only-seeded skips a size whose database is not seeded
instead of seeding it, 1,000,000 taking about half an hour) it starts
gunicorn with production settings (workers = cores; `--workers`, and `--threads` for gthread,
the peer getting the same workers) on PostgreSQL, warms up, then drives
each key page with wrk (4 signed-in connections, fixed time), together with /ping, a view
that only returns a short response: the framework's ceiling in the same run.

It prints for each page: requests/s, p50/p95/p99 latency, errors, SQL queries per request,
requests/s as a share of the ceiling, sequential scans of big tables in its queries; the peak
RSS of the web workers; and, page by page, the p95 ratio of each size to the first.

In the same run, right after our pages at each size, it drives the Django peer
(`../shared/peer-bench/run.sh`: django-appointment's booking page, its slot list and its
trivial view, same connections and seconds), then prints one table: our pages and the peer's,
requests/s and p95 at each size, and our requests/s as multiples of the peer's booking page
measured beside them (the target of the performance issue: 5x). Absolute figures move with
the machine's load; ratios measured together much less. `--no-peer` skips it; PEER_BENCH
points elsewhere.

`--explain-only` runs no load: for each size it counts every page's queries and runs
EXPLAIN (ANALYZE, BUFFERS) on each (bench/prepare.py --analyze), printing the page's time
in-process, its slowest query and any sequential scan of a big table; --plans DIR keeps the
plans.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
PEER = Path(os.environ.get("PEER_BENCH", ROOT.parent / "shared" / "peer-bench" / "run.sh"))
PREFIX = os.environ.get("BENCH_DB_PREFIX", "clinic_bench_")
# The bench's own Redis database (sessions, throttles, the Celery broker): every valid
# booking POST nudges the reminder dispatcher, and with no worker running the nudges piled up
# in the default broker's queue (4,312 after one `make bench`), for the next `make run`'s
# worker to drain. They are dropped after each size (`drop_nudges`).
BENCH_REDIS = os.environ.get("BENCH_LOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
PEER_TARGET = 5.0  # our key pages' req/s over the peer's booking page
ORDER = [
    "ceiling",
    "schedule_day",
    "patient_search",
    "patient_page",
    "review_overdue",
    "booking_page",
    "booking_valid",
    "booking_refused",
    "portal_home",
    "consent_sign",
    "patient_consents",
    "portal_intake",
    "photo_compare",
    "portal_booking",
    "recall_list",
    "portal_waitlist",
    "portal_waitlist_offer",
    "staff_waitlist",
    "message_log",
    "patient_history",
]

LUA = r"""
local cookie, csrf, method, path = %(cookie)s, %(csrf)s, %(method)s, %(path)s
local ids = {%(ids)s}
local clinicians = {%(clinicians)s}
local rooms = {%(rooms)s}
local kind = %(kind)s
local half = math.floor(#ids / 2)
local counter = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args) math.randomseed(os.time() + (tid or 0) * 7919) end
local function uuid()
  return string.format("%%08x-%%04x-4%%03x-8%%03x-%%06x%%06x", math.random(0, 0x7fffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xfff),
    math.random(0, 0xffffff), math.random(0, 0xffffff))
end
function request()
  local headers = {["Cookie"] = cookie, ["X-CSRFToken"] = csrf, ["Referer"] = "http://127.0.0.1/"}
  if method == "GET" then return wrk.format("GET", path, headers) end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  local body, target
  if kind == "valid" then
    local k = (tid or 0) * half + counter
    local base = os.time({year = 2035, month = 1, day = 5, hour = 12})
    local day = os.date("!%%Y-%%m-%%d", base + math.floor(k / 360) * 86400)
    local hour = 8 + math.floor(k / 40) %% 9
    target = "/patients/" .. ids[(k %% #ids) + 1] .. "/book/"
    body = "day=" .. day .. "&time=" .. string.format("%%02d:00", hour) .. "&duration=60" ..
      "&clinician=" .. clinicians[(k %% #clinicians) + 1] .. "&room=" .. rooms[(k %% #rooms) + 1] ..
      "&far_ahead_confirmed=on&booking_key=" .. uuid()
  else
    target = path
    body = %(refused_body)s .. "&booking_key=" .. uuid()
  end
  counter = counter + 1
  return wrk.format("POST", target, headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50": %%d, "p95": %%d, ' ..
    '"p99": %%d, "status_errors": %%d, "socket_errors": %%d}\n', summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_str(value) -> str:
    return json.dumps(value)


def env_for(size: int) -> dict:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DATABASE_URL": f"{SERVER}/{PREFIX}{size}",
        "REDIS_URL": BENCH_REDIS,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "AXES_FAILURE_LIMIT": "1000000",
        # Production refuses the console mail backend; the bench sends nothing anywhere.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }


def manage(size, *args, check=True):
    return subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        env=env_for(size),
        capture_output=True,
        text=True,
        check=check,
    )


def is_seeded(size: int) -> bool:
    """The size's database exists and holds scale data."""
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"{PREFIX}{size}"])
        exists = cur.fetchone() is not None
    conn.close()
    if not exists:
        return False
    conn = psycopg2.connect(f"{SERVER}/{PREFIX}{size}")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('patients_patient') IS NOT NULL")
            if not cur.fetchone()[0]:
                return False
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM patients_patient WHERE email LIKE 'scale-%%')"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def ensure_seeded(size: int) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"{PREFIX}{size}"])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{PREFIX}{size}"')
    conn.close()
    manage(size, "migrate", "--noinput")
    print(f"Seeding {size} patients (once per database; skipped when already there)...", flush=True)
    result = subprocess.run(
        [PY, "manage.py", "seed_scale", "--patients", str(size)],
        cwd=ROOT,
        env=env_for(size),
        text=True,
        stderr=subprocess.PIPE,
    )
    if result.returncode and "already holds scale data" not in result.stderr:
        sys.exit(result.stderr)


def prepare(size: int, *extra: str) -> dict:
    """bench/prepare.py on the size's database: cookies, ids, query counts, EXPLAIN."""
    prepared = subprocess.run(
        [PY, "bench/prepare.py", *extra],
        cwd=ROOT,
        env=env_for(size),
        capture_output=True,
        text=True,
    )
    if prepared.returncode:
        sys.exit(f"bench/prepare.py failed at {size:,} patients:\n{prepared.stderr[-3000:]}")
    return json.loads(prepared.stdout.strip().splitlines()[-1])


def wrk(url, script, seconds, connections) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def worker_peak_rss_mb(master: int) -> float:
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True
    ).stdout.split()
    peaks = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def run_size(size: int, seconds: int, connections: int, workers: int, threads: int) -> dict:
    ensure_seeded(size)
    prep = prepare(size)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/ping", timeout=1)
        sys.exit(f"Something already answers on port {PORT}: stop it (or set BENCH_PORT).")
    except OSError:
        pass  # free, as it should be
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "clinic.wsgi",
            "--workers",
            str(workers),
            # More than one thread: gunicorn's gthread worker (threads share a process's
            # CPU; they overlap the waits on PostgreSQL, e.g. a commit's flush).
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env_for(size),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in ORDER:
                method, path, who = prep["pages"][name]
                refused = prep["refused"]
                script = Path(tmp) / f"{name}.lua"
                script.write_text(
                    LUA
                    % {
                        "cookie": lua_str(prep["cookies"].get(who, "") if who else ""),
                        "csrf": lua_str(prep["csrf"]),
                        "method": lua_str(method),
                        "path": lua_str(path),
                        "ids": ",".join(map(str, prep["book_ids"])),
                        "clinicians": ",".join(map(str, prep["clinicians"])),
                        "rooms": ",".join(map(str, prep["rooms"])),
                        "kind": lua_str("valid" if name == "booking_valid" else "other"),
                        "refused_body": lua_str(
                            f"day={refused['day']}&time=10:00&duration=60&clinician="
                            f"{prep['clinicians'][0]}&room={prep['rooms'][0]}"
                        ),
                    }
                )
                if name != "booking_valid":
                    wrk(base, str(script), 3, connections)  # warm-up
                results[name] = wrk(base, str(script), seconds, connections)
        rss = worker_peak_rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return {
        "size": size,
        "prep": prep,
        "results": results,
        "rss": rss,
        "server": f"{workers} workers x {threads} threads",
    }


def report(run) -> None:
    prep, results = run["prep"], run["results"]
    ceiling = results["ceiling"]["rps"]
    print(
        f"\n{run['size']:,} patients ({prep['patients']:,} seeded, {prep['reminders']:,} "
        f"reminder rows); gunicorn {run['server']}; peak RSS of a web worker: {run['rss']:.0f} MB"
    )
    print(
        f"{'page':<16} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'SQL/req':>7} {'vs ceiling':>10}  seq scans of big tables"
    )
    for name in ORDER:
        r = results[name]
        print(
            f"{name:<16} {r['rps']:>8.0f} {r['p50'] / 1000:>7.1f} {r['p95'] / 1000:>7.1f} "
            f"{r['p99'] / 1000:>7.1f} {r['status_errors'] + r['socket_errors']:>6} "
            f"{prep['queries'][name]:>7} {r['rps'] / ceiling:>9.0%}  "
            f"{', '.join(prep['seq_scans'][name]) or 'none'}"
        )
    claim = ", ".join(prep["seq_scans"]["dispatcher_claim"]) or "none"
    print(f"{'dispatcher':<16} claim query seq scans: {claim}")


def run_peer(seconds: int, connections: int, workers: int) -> dict | None:
    """The peer's figures ({"booking": {"rps": ...}, "slots": ..., "ceiling": ...}), or None
    with the reason printed when it cannot run here."""
    if not PEER.exists():
        print(f"(the Django peer is not at {PEER}: no ratios)")
        return None
    done = subprocess.run(
        [
            "bash",
            str(PEER),
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            "--workers",
            str(workers),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        print(f"(the Django peer did not run: {done.stderr.strip()[-300:]})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_table(runs) -> None:
    """One table: our pages and the peer's, req/s and p95 at each size, and our req/s as
    multiples of the peer's booking page measured beside them at that size."""
    sizes = [run["size"] for run in runs]
    print(
        "\nOur pages and the Django peer's (django-appointment), measured together at each size;"
        f"\n'x peer' = our req/s / the peer's booking page's (target {PEER_TARGET:.0f}x; the "
        "ceiling's: / the peer's trivial view):"
    )
    head = "".join(f" | {f'{size:,} patients':^27}" for size in sizes)
    print(f"{'page':<18}{head}")
    print(f"{'':<18}" + "".join(f" | {'req/s':>8} {'p95 ms':>8} {'x peer':>8}" for _ in sizes))
    for name in ORDER:
        cells = ""
        for run in runs:
            r, peer = run["results"][name], run.get("peer")
            versus = "ceiling" if name == "ceiling" else "booking"  # trivial view to trivial view
            ratio = f"{r['rps'] / peer[versus]['rps']:.1f}x" if peer else "-"
            cells += f" | {r['rps']:>8.0f} {r['p95'] / 1000:>8.1f} {ratio:>8}"
        print(f"{name:<18}{cells}")
    for page in ("booking", "slots", "ceiling"):
        cells = ""
        for run in runs:
            peer = run.get("peer")
            if peer:
                cells += f" | {peer[page]['rps']:>8.0f} {'p99 ' + peer[page]['p99']:>8} {'':>8}"
            else:
                cells += f" | {'-':>8} {'-':>8} {'':>8}"
        print(f"{'peer: ' + page:<18}{cells}")
    print("(the peer reports p50 and p99, not p95)")


def explain_only(sizes: list[int], only_seeded: bool, plans: str | None) -> None:
    for size in sizes:
        if not is_seeded(size):
            if only_seeded:
                print(f"\n{size:,} patients: {PREFIX}{size} is not seeded, skipped.")
                continue
            ensure_seeded(size)
        extra = ["--analyze"] + (["--plans", str(Path(plans) / str(size))] if plans else [])
        prep = prepare(size, *extra)
        print(
            f"\n{size:,} patients ({prep['patients']:,} seeded, {prep['reminders']:,} reminder "
            "rows): EXPLAIN (ANALYZE, BUFFERS) of every query"
        )
        print(
            f"{'page':<17} {'SQL':>4} {'ms in-process':>13} {'ms in SQL':>9} {'slowest':>8}  "
            "seq scans of big tables / slowest query"
        )
        for name in ORDER:
            if name == "ceiling":
                continue
            a = prep["analyze"][name]
            print(
                f"{name:<17} {prep['queries'][name]:>4} {a['page_ms']:>13.1f} "
                f"{a['sql_ms']:>9.1f} {a['slowest_ms']:>8.1f}  "
                f"{', '.join(prep['seq_scans'][name]) or 'none'} / {a['slowest_sql'][:70]}"
            )
        claim = ", ".join(prep["seq_scans"]["dispatcher_claim"]) or "none"
        print(f"{'dispatcher':<17} claim query seq scans: {claim}")


def drop_nudges() -> None:
    """Empty the bench broker's Celery queue: the nudges its bookings sent (no worker runs)."""
    import redis

    redis.Redis.from_url(BENCH_REDIS, socket_timeout=5).delete("celery")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--pages", nargs="+", choices=ORDER, help="only these (and the ceiling)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="gunicorn workers, ours and the peer's (default: one a core)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads a worker of ours (gthread when > 1)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the Django peer (no ratios)")
    parser.add_argument(
        "--only-seeded",
        action="store_true",
        help=f"skip a size whose database ({PREFIX}<N>) is not seeded instead of seeding it",
    )
    parser.add_argument(
        "--explain-only",
        action="store_true",
        help="no load: EXPLAIN (ANALYZE, BUFFERS) every page's queries at each size",
    )
    parser.add_argument("--plans", help="with --explain-only: write the plans under this folder")
    args = parser.parse_args()
    if args.pages:
        ORDER[:] = ["ceiling", *(p for p in args.pages if p != "ceiling")]
    subprocess.run(
        [PY, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env_for(args.sizes[0]),
        check=True,
    )
    if args.explain_only:
        explain_only(args.sizes, args.only_seeded, args.plans)
        return
    sizes = args.sizes
    if args.only_seeded:
        sizes = [size for size in sizes if is_seeded(size)]
        for size in set(args.sizes) - set(sizes):
            print(f"{PREFIX}{size} is not seeded: {size:,} patients skipped (--only-seeded).")
        if not sizes:
            sys.exit("No size is seeded.")
    runs = []
    for size in sizes:
        run = run_size(size, args.seconds, args.connections, args.workers, args.threads)
        drop_nudges()
        # The peer right after our pages at each size: the ratios compare figures measured
        # under the same conditions (its data does not grow; the machine's state may).
        run["peer"] = (
            None if args.no_peer else run_peer(args.seconds, args.connections, args.workers)
        )
        runs.append(run)
    for run in runs:
        report(run)
    report_table(runs)
    if len(runs) >= 2:
        small = runs[0]
        print(f"\np95 at each size / p95 at {small['size']:,} patients, page by page:")
        print(f"  {'page':<16}" + "".join(f"{run['size']:>12,}" for run in runs[1:]))
        for name in ORDER:
            cells = "".join(
                f"{run['results'][name]['p95'] / max(small['results'][name]['p95'], 1):>11.2f}x"
                for run in runs[1:]
            )
            print(f"  {name:<16}{cells}")


if __name__ == "__main__":
    main()
