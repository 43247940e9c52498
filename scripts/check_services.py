#!/usr/bin/env python
"""Say plainly whether PostgreSQL and Redis answer, and how to start the one that does not.

check_services.py --require postgres redis   exit 1 if any named service is down
check_services.py --probe redis              exit 1 if down, printing nothing
"""

import argparse
import os
import sys

START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
}


def postgres_error() -> str | None:
    import psycopg2

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"DATABASE_URL={url!r} is not a PostgreSQL URL"
    # Connect to the server's maintenance database: the test database is created by pytest.
    dsn = url.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL does not answer at {dsn}: {str(exc).strip()}"
    return None


def redis_error() -> str | None:
    import redis

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis does not answer at {url}: {exc}"
    return None


CHECKS = {"postgres": postgres_error, "redis": redis_error}


def main() -> int:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--require", nargs="+", choices=CHECKS)
    group.add_argument("--probe", choices=CHECKS)
    args = parser.parse_args()
    if args.probe:
        return 1 if CHECKS[args.probe]() else 0
    failed = False
    for name in args.require:
        error = CHECKS[name]()
        if error:
            failed = True
            print(f"ERROR: {error}\n  Start it with: {START[name]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
