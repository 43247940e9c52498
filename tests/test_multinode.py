"""Several web nodes, nothing on a node's disk (README, "Running several web and worker
nodes"): a local S3 server (moto) and two `gunicorn` processes on different ports, each with
its own MEDIA_ROOT, sharing the test database, Redis and the bucket. A clinician signs in on
node A and records a follow-up with a photo through node A's real page (CSRF and all); node B,
with the same session cookie, serves the photo: the same bytes. Neither node's MEDIA_ROOT
gets a file.
"""

import importlib
import io
import os
import re
from datetime import date, timedelta

import pytest
import requests
from django.apps import apps
from django.utils import timezone
from PIL import Image

from tests.conftest import TEST_REDIS_URL
from tests.factories import BERLIN, PatientFactory, ProductLotFactory, at, book, clinician
from tests.s3 import MotoServer
from tests.test_reminder_worker import test_database_url
from tests.webnodes import WebNode
from treatments import services
from treatments.models import FollowUpPhoto

pytestmark = [
    pytest.mark.multinode,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("reference_data"),
]

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def nodes(tmp_path, moto):
    """Two web nodes, A and B, as two machines would run them: the same environment but for
    the port and MEDIA_ROOT (which must never be needed)."""
    bucket = moto.new_bucket()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    shared = {
        **keep,
        "DEBUG": "1",
        "SECRET_KEY": "one-secret-for-every-node-of-the-test-cluster",
        "DATABASE_URL": test_database_url(),
        "CONN_MAX_AGE": "0",
        "REDIS_URL": TEST_REDIS_URL,
        "CACHE_URL": TEST_REDIS_URL,
        "THROTTLE_CACHE_URL": TEST_REDIS_URL,
        "STORAGE_URL": moto.storage_url(bucket),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SMS_BACKEND": "reminders.channels.LocmemSmsBackend",
        "CLINIC_TIME_ZONE": "Europe/Berlin",
    }
    started = [
        WebNode(name, tmp_path, {**shared, "MEDIA_ROOT": str(tmp_path / f"{name}-media")}).start()
        for name in ("node-a", "node-b")
    ]
    try:
        for node in started:
            node.wait_ready()
        yield started, bucket
    finally:
        for node in started:
            node.stop()


def _published_consents():
    """The default consent documents (a transactional test starts on a flushed database)."""
    from consents.models import ConsentDocument

    if not ConsentDocument.objects.exists():
        migration = importlib.import_module(
            "consents.migrations.0001_consent_documents_versions_signatures"
        )
        migration.create_default_consents(apps, None)


def _follow_up_due_today(doctor):
    """A completed session a few weekdays ago, its aftercare check due: recordable now."""
    today = timezone.localdate(timezone=BERLIN)
    day = today - timedelta(days=3)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    session = book(
        patient=PatientFactory(),
        day=day,
        hour=10,
        clinician_user=doctor,
        now=at(day - timedelta(days=14), 9),
    )
    services.complete_session(
        session=session,
        vials=[(ProductLotFactory(expiry_date=date(2099, 1, 1)), 1)],
        completed_by=doctor,
        now=at(day, 12),
    )
    return session.follow_ups.get(kind="aftercare_check")


def _form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} in the page"
    return match.group(1)


def _picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_photo_uploaded_through_node_a_is_served_by_node_b(nodes, moto, tmp_path, settings):
    (node_a, node_b), bucket = nodes
    _published_consents()
    # A password hash the nodes can check (the suite's own MD5 is not in their settings).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    doctor = clinician()
    follow_up = _follow_up_due_today(doctor)

    browser = requests.Session()  # one cookie jar: a load balancer sends it to either node
    login = browser.get(f"{node_a.url}/accounts/login/", timeout=30)
    assert login.status_code == 200
    signed_in = browser.post(
        f"{node_a.url}/accounts/login/",
        data={
            "username": doctor.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": _form_value(login.text, "csrfmiddlewaretoken"),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]

    record_url = f"{node_a.url}/follow-ups/{follow_up.pk}/record/"
    page = browser.get(record_url, timeout=30)
    assert page.status_code == 200, page.text[:2000]
    recorded = browser.post(
        record_url,
        data={
            "csrfmiddlewaretoken": _form_value(page.text, "csrfmiddlewaretoken"),
            "version": _form_value(page.text, "version"),
            "status": "done",
        },
        files={"photo_top": ("top.png", _picture(), "image/png")},
        allow_redirects=False,
        timeout=60,
    )
    assert recorded.status_code == 302, recorded.text[:3000] + node_a.tail()
    photo = FollowUpPhoto.objects.get(follow_up=follow_up)
    key = f"media/{photo.image.name}"
    assert key in moto.keys(bucket)
    stored = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    served = {}
    for node in (node_b, node_a):
        answer = browser.get(f"{node.url}/photos/{photo.pk}/", allow_redirects=False, timeout=30)
        assert answer.status_code == 302, f"{node.name}: {answer.status_code}\n{node.tail()}"
        assert "no-store" in answer.headers["Cache-Control"]
        assert answer.headers["Location"].startswith(moto.endpoint + "/")
        image = requests.get(answer.headers["Location"], timeout=30)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        served[node.name] = image.content
    assert served["node-b"] == served["node-a"] == stored
    with Image.open(io.BytesIO(served["node-b"])) as picture:
        assert picture.size == (24, 16) and picture.getpixel((3, 3)) == (200, 30, 40)
    # Nothing was kept on either node's disk.
    assert not (tmp_path / "node-a-media").exists()
    assert not (tmp_path / "node-b-media").exists()
    # Without the session, node B hands out no URL.
    anonymous = requests.get(f"{node_b.url}/photos/{photo.pk}/", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302 and moto.endpoint not in anonymous.headers["Location"]
