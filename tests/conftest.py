import os

import pytest
from django.conf import settings as django_settings

# Tasks the tests publish (a booking nudges the dispatcher on commit) go to a Redis database
# of their own, never to the one a developer's `make run` worker listens on.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session", autouse=True)
def _postgresql_only():
    """The protocol's database constraints exist only on PostgreSQL: test there, always."""
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(
            "The tests run on PostgreSQL. Set "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic (or run `make test`).",
            returncode=2,
        )


@pytest.fixture(scope="session", autouse=True)
def _test_broker():
    from clinic.celery import app

    app.conf.broker_url = TEST_REDIS_URL


@pytest.fixture(autouse=True)
def _clinic_settings(settings, tmp_path):
    settings.CLINIC_TIME_ZONE = "Europe/Berlin"
    settings.TIME_ZONE = "Europe/Berlin"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
