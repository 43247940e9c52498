"""/healthz answers 200 when PostgreSQL and Redis answer, 503 naming the one that does not."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_redis_down_is_named(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["redis"].startswith("failed")


def test_database_down_is_named(client, monkeypatch):
    from clinic import health

    def broken_cursor():
        raise ConnectionError("gone")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "failed: ConnectionError"


def test_ping_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/ping").content == b"pong"
