"""/healthz: is this web process able to serve? Checks PostgreSQL and Redis, says which failed."""

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is a failed check, with its reason
        return f"failed: {exc.__class__.__name__}"
    return "ok"


def _redis() -> str:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as exc:
        return f"failed: {exc.__class__.__name__}"
    return "ok"


@never_cache
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


def ping(request):
    """Liveness: the process answers. Touches nothing; also the benchmark's framework ceiling."""
    return HttpResponse("pong", content_type="text/plain")
