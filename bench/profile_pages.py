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
    # The floor: a page that does nothing, through the whole middleware stack, signed in as
    # staff (with their second factor) and as a patient; "_bare" answers a plain text
    # response, the others render an empty page in the site's layout (base.html with its
    # navigation and context processors). Served by bench-only URLs added below.
    "floor_staff_bare",
    "floor_staff",
    "floor_portal_bare",
    "floor_portal",
    "consent_sign",
    "patient_consents",
    "portal_intake",
    "photo_compare",
    "portal_booking",
    "portal_waitlist",
    "portal_waitlist_offer",
    "staff_waitlist",
    "message_log",
    "patient_history",
    "recall_list",
]
FLOOR_PAGES = {
    "floor_staff_bare": ("GET", "/__bench__/floor-bare/", "staff"),
    "floor_staff": ("GET", "/__bench__/floor/", "staff"),
    "floor_portal_bare": ("GET", "/__bench__/floor-bare/", "patient"),
    "floor_portal": ("GET", "/__bench__/floor/", "patient"),
}
# The functions whose cumulative time --layers reports per request (what each layer costs).
LAYERS = {
    "session read (SessionStore.load)": ("django/contrib/sessions/backends/", "load"),
    "session save": ("django/contrib/sessions/backends/", "save"),
    "user read (auth.get_user)": ("django/contrib/auth/__init__.py", "get_user"),
    "OTP device (OTPMiddleware._verify_user_sync)": (
        "django_otp/middleware.py",
        "_verify_user_sync",
    ),
    "CSP header (CSPMiddleware.process_response)": ("csp/middleware.py", "process_response"),
    "CSP nonce (CSPMiddleware.process_request)": ("csp/middleware.py", "process_request"),
    "messages (MessageMiddleware.process_response)": (
        "django/contrib/messages/middleware.py",
        "process_response",
    ),
    "CSRF (process_view)": ("django/middleware/csrf.py", "process_view"),
    "CSRF (process_response)": ("django/middleware/csrf.py", "process_response"),
    "locale (LocaleMiddleware)": ("django/middleware/locale.py", "process_request"),
    "locale response": ("django/middleware/locale.py", "process_response"),
    "two-factor (process_view)": ("accounts/middleware.py", "process_view"),
    "security": ("django/middleware/security.py", "process_response"),
    "no-store (patch_cache_control)": ("django/utils/cache.py", "patch_cache_control"),
    "URL resolve": ("django/urls/resolvers.py", "resolve"),
    "template render": ("django/template/base.py", "render"),
    "context processors": ("django/template/context.py", "bind_template"),
    "audit read record (note_read)": ("audit/web.py", "note_read"),
    "translation activate": ("django/utils/translation/trans_real.py", "activate"),
    "view": ("django/core/handlers/base.py", "_get_response"),
    "whole request (test client)": ("django/test/client.py", "request"),
}


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
    parser.add_argument(
        "--html",
        metavar="DIR",
        help="also save one response of each page as DIR/<page>.html, its per-request tokens "
        "(CSP nonce, CSRF token, booking key) blanked: compare two versions' bytes with diff",
    )
    parser.add_argument(
        "--layers",
        action="store_true",
        help="print the CPU each middleware layer spends per request (markers between them)",
    )
    parser.add_argument(
        "--functions",
        action="store_true",
        help="cProfile the requests: cumulative CPU of the LAYERS functions (cProfile inflates)",
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="also count the Python function calls of a request (cProfile, after the timed "
        "requests): a figure the machine's load does not move, to compare two versions",
    )
    parser.add_argument(
        "--query-ms",
        action="store_true",
        help="print each query's wall milliseconds as the page sends it (median of --n "
        "requests, round trip and PostgreSQL's planning included)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--pstats",
        metavar="DIR",
        help="also cProfile each page's timed requests and save DIR/<page>.pstats "
        "(read with python -m pstats; cProfile inflates, compare shares not milliseconds)",
    )
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

    add_floor_pages(prep)
    marks = install_marks() if args.layers else None
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
        queries: list[str] = []
        with connection.execute_wrapper(
            lambda execute, sql, *a, log=queries: log.append(sql) or execute(sql, *a)
        ):
            make_request(name, client)
        if args.show_queries:
            print("\n".join(f"    {sql[:160]}" for sql in queries))
        if args.query_ms:
            print_query_ms(lambda n=name, c=client: make_request(n, c), args.n)
        if args.html:
            Path(args.html).mkdir(parents=True, exist_ok=True)
            html = make_request(name, client).content.decode()
            Path(args.html, f"{name}.html").write_text(without_tokens(html))
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
        layers = None
        if marks:
            marks.reset()
        if args.functions or args.pstats:
            import cProfile

            layers = cProfile.Profile(time.process_time)
            layers.enable()
        for _ in range(args.n):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = make_request(name, client)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == expected, (name, response.status_code, refusal(response))
        if layers:
            layers.disable()
            if args.pstats:
                Path(args.pstats).mkdir(parents=True, exist_ok=True)
                layers.dump_stats(str(Path(args.pstats, f"{name}.pstats")))
            if args.functions:
                print_layers(layers, args.n)
        if marks:
            print_marks(marks, args.n)
        if profiler:
            profiler.stop()
            Path(args.out).mkdir(parents=True, exist_ok=True)
            Path(args.out, f"{name}.html").write_text(profiler.output_html())
            Path(args.out, f"{name}.txt").write_text(
                profiler.output_text(unicode=True, show_all=False)
            )
        calls = count_calls(lambda n=name, c=client: make_request(n, c)) if args.calls else None
        times.sort()
        figures[name] = {
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(len(times) * 0.9)], 2),
            "cpu_median_ms": round(statistics.median(cpu), 2),
            "queries": len(queries),
            "python_calls": calls,
        }
        print(
            f"{name:<16} median {figures[name]['median_ms']:>6.2f} ms   "
            f"p90 {figures[name]['p90_ms']:>6.2f} ms   CPU median "
            f"{figures[name]['cpu_median_ms']:>6.2f} ms   {figures[name]['queries']:>3} queries"
            + (f"   {calls:>8,} Python calls" if calls is not None else ""),
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def without_tokens(html: str) -> str:
    """A page's HTML without what changes from one request to the next."""
    import re

    for pattern, blank in (
        (r'nonce="[^"]*"', 'nonce=""'),
        (r'(name="(?:csrfmiddlewaretoken|booking_key)" value=")[^"]*"', r'\1"'),
        (r'(value=")[^"]*(" name="(?:csrfmiddlewaretoken|booking_key)")', r"\1\2"),
    ):
        html = re.sub(pattern, blank, html)
    return html


def print_query_ms(request, n: int) -> None:
    """Each query's wall time as the page sends it, the median of `n` requests."""
    from django.db import connection

    spent: list[list[float]] = []
    texts: list[str] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            position = timed.position
            if position == len(spent):
                spent.append([])
                texts.append(sql)
            spent[position].append((time.perf_counter() - started) * 1000)
            timed.position += 1

    for _ in range(n):
        timed.position = 0  # type: ignore[attr-defined]
        with connection.execute_wrapper(timed):
            request()
    for times, sql in zip(spent, texts, strict=True):
        print(f"    {statistics.median(times):7.2f} ms  {sql[:110]}")
    total = sum(statistics.median(times) for times in spent)
    print(f"    {total:7.2f} ms  in all")


def count_calls(request, n: int = 20) -> int:
    """The Python function calls one request makes (the mean of `n`, by cProfile)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        request()
    profiler.disable()
    return round(pstats.Stats(profiler).total_calls / n)  # type: ignore[attr-defined]


def add_floor_pages(prep):
    """Bench-only URLs for the floor pages (not in the app's URLconf): they answer once the
    whole middleware stack let the request through, as any page's view would."""
    from django.http import HttpResponse
    from django.template import engines
    from django.urls import path

    from clinic import urls

    layout = engines["django"].from_string(
        '{% extends "base.html" %}{% block content %}<p>floor</p>{% endblock %}'
    )

    def bare(request):
        return HttpResponse("signed in" if request.user.is_authenticated else "no")

    def page(request):
        return HttpResponse(layout.render({}, request))

    urls.urlpatterns += [
        path("__bench__/floor-bare/", bare, name="bench_floor_bare"),
        path("__bench__/floor/", page, name="bench_floor"),
    ]
    prep["pages"].update(FLOOR_PAGES)


class Marks:
    """CPU time spent in each middleware's own code: a marker before every middleware notes
    the clock on the way in and out; a layer's share is its marker to the next one's, both
    ways. Lazy work (the session, request.user) counts where it is first touched, and
    process_view hooks and the view count in the last segment ("view")."""

    def __init__(self, names):
        self.names = names + ["view (and process_view hooks)"]
        self.reset()

    def reset(self):
        self.spent = [0.0] * len(self.names)
        self.last = None

    def tick(self, index):
        """From now on the time is `index`'s (-1: outside the stack)."""
        now = time.process_time()
        if self.last is not None:
            self.spent[self.last[0]] += now - self.last[1]
        self.last = (index, now) if index >= 0 else None


def install_marks() -> Marks:
    import types

    from django.conf import settings

    names = list(settings.MIDDLEWARE)
    marks = Marks([name.rsplit(".", 1)[-1] for name in names])
    module = types.ModuleType("bench_marks")

    def marker(index):
        class Mark:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                marks.tick(index)
                try:
                    return self.get_response(request)
                finally:
                    marks.tick(index - 1)

        return Mark

    chain = []
    for index, name in enumerate(names):
        setattr(module, f"Mark{index}", marker(index))
        chain += [f"bench_marks.Mark{index}", name]
    module.MarkView = marker(len(names))  # type: ignore[attr-defined]
    chain.append("bench_marks.MarkView")
    sys.modules["bench_marks"] = module
    settings.MIDDLEWARE = chain
    return marks


def print_marks(marks, n):
    for name, spent in zip(marks.names, marks.spent, strict=True):
        print(f"    layer {name:<44} {spent * 1000 / n:7.3f} ms")


def print_layers(profile, n):
    """Cumulative CPU ms per request of each LAYERS function (nested ones overlap)."""
    import pstats

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for label, (file_part, function) in LAYERS.items():
        total, calls = 0.0, 0
        for (filename, _, name), (_, ncalls, _, cumulative, _) in stats.items():
            if name == function and file_part in filename:
                # Recursive entries (a template's render calling render) count once: keep the
                # largest cumulative of the matching entries per file.
                total = max(total, cumulative)
                calls += ncalls
        if calls:
            print(f"    {label:<50} {total * 1000 / n:7.3f} ms  {calls / n:5.1f} calls")


if __name__ == "__main__":
    main()
