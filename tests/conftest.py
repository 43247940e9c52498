import os
import uuid
from pathlib import Path

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
def _compiled_translations():
    """The .mo files are built, not kept in git (`make install` compiles them): compile any
    that is missing or older than its .po, so a bare `pytest` reads German and Turkish too."""
    import subprocess

    from django.utils.translation import trans_real

    compiled = False
    for po in Path(django_settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(["msgfmt", "--check", "-o", str(mo), str(po)], check=True, timeout=60)
            compiled = True
    if compiled:
        trans_real._translations.clear()  # catalogs read before the compile


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
    # Caches and throttle counters in the tests' own Redis database, under a prefix of this
    # test's own.
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **settings.CACHES["default"],
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"cache-test-{uuid.uuid4().hex}",
        },
        "throttle": {
            **settings.CACHES["throttle"],
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
        },
    }


@pytest.fixture
def frozen():
    """Freeze the clock at tests.factories.NOW (Monday 4 January 2027, 09:00 in the clinic)."""
    import time_machine

    from tests.factories import NOW

    with time_machine.travel(NOW, tick=False):
        yield NOW


def _client_for(client, role):
    """A client signed in as a new user of `role` (under the frozen clock: view tests' data
    lives in January 2027)."""
    from django.test import Client

    from tests.factories import UserFactory

    client = Client()
    user = UserFactory(role=role, first_name="Role", last_name=role)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def staff_client(client, db, frozen):
    from accounts import roles

    return _client_for(client, roles.CLINIC_STAFF)


@pytest.fixture
def clinician_client(client, db, frozen):
    from accounts import roles

    return _client_for(client, roles.CLINICIAN)


@pytest.fixture
def clinic_admin_client(client, db, frozen):
    from accounts import roles

    return _client_for(client, roles.CLINIC_ADMIN)


@pytest.fixture
def patient_client(client, db, frozen):
    from accounts import roles

    return _client_for(client, roles.PATIENT)


@pytest.fixture
def reference_data(transactional_db):
    """Roles and the default protocol, recreated as the migrations create them.

    Transactional tests (threads, worker processes, the live server) run on a database that
    is flushed after each test; they ask for this instead of relying on serialized rollback.
    """
    import importlib

    from django.apps import apps

    from accounts.roles import sync_roles_after_migrate

    sync_roles_after_migrate(None)  # as after every migrate and flush (post_migrate)
    importlib.import_module("treatments.migrations.0003_default_protocol").create_default_protocol(
        apps, None
    )
