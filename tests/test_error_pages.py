"""Issue 12, item 17: our own 404/500 pages (with DEBUG on too), a message after sign-out,
plain labels, and "AXES: BEGIN" said once under `make run`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def crashing_view(settings):
    """A URL whose view raises, added to the project's URLs for this test only."""
    import clinic.urls

    def boom(request):
        raise RuntimeError("boom")

    from django.urls import clear_url_caches, path

    class Urls:
        urlpatterns = [path("boom/", boom), *clinic.urls.urlpatterns]

    settings.ROOT_URLCONF = Urls
    clear_url_caches()
    yield "/boom/"
    clear_url_caches()


@pytest.mark.parametrize("debug", [False, True])
def test_a_missing_page_is_ours_with_debug_on_or_off(settings, debug):
    settings.DEBUG = debug
    for url in ("/no-such-page/", "/patients/999999/"):
        client = Client()
        client.force_login(UserFactory(role=roles.CLINIC_STAFF))
        response = client.get(url)
        assert response.status_code == 404
        html = response.content.decode()
        assert "This page does not exist" in html
        assert "Using the URLconf" not in html  # Django's technical 404


def test_the_debug_setting_brings_djangos_404_back(settings):
    settings.DEBUG = True
    settings.DEBUG_ERROR_PAGES = True
    html = Client().get("/no-such-page/").content.decode()
    assert "Using the URLconf" in html


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_shows_our_500_page(settings, crashing_view, debug, caplog):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    response = client.get(crashing_view)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html and "RuntimeError" not in html
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def test_django_debug_500_at_the_setting(settings, crashing_view):
    settings.DEBUG = True
    settings.DEBUG_ERROR_PAGES = True
    response = Client(raise_request_exception=False).get(crashing_view)
    assert response.status_code == 500
    assert "RuntimeError" in response.content.decode()


def test_slash_redirect_still_works_in_debug(settings):
    settings.DEBUG = True
    client = Client()
    client.force_login(UserFactory(role=roles.CLINIC_STAFF))
    assert client.get("/schedule")["Location"] == "/schedule/"


def test_sign_out_says_so():
    client = Client()
    client.force_login(UserFactory(role=roles.CLINIC_STAFF))
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You are signed out." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_plain_labels(staff_client):
    html = staff_client.get(reverse("patient_create")).content.decode()
    assert "Reminders by SMS" in html
    assert "Takes a prescribed NSAID" in html
    assert "Takes prescribed nsaid" not in html


def _axes_begin_lines(extra_env):
    env = {k: v for k, v in os.environ.items() if k != "RUN_MAIN"}
    env.update(DEBUG="1", **extra_env)
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return (out.stdout + out.stderr).count("AXES: BEGIN")


def test_axes_begin_only_in_the_serving_process():
    """Under `make run` only runserver's child (RUN_MAIN=true) says it."""
    assert _axes_begin_lines({}) == 0
    assert _axes_begin_lines({"RUN_MAIN": "true"}) == 1
