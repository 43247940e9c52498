"""Two-factor sign-in (issue 13, items 6 and 7): enrolment with a QR code, the code step after
the password, recovery codes that work once, "remember this device", STAFF_2FA_REQUIRED per
role, the admin gate, resets by a clinic admin, and no 500 for anything typed as a code."""

import logging
import re
import time
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.admin.sites import site as admin_site
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles, two_factor
from tests.factories import NOW, PatientFactory, UserFactory
from tests.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def clock():
    """The clock, stopped at NOW; tests move it on (a TOTP code is accepted once per 30 s
    step, and django-otp makes a device wait a second or more after a wrong code)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def code_for(device: TOTPDevice) -> str:
    """The code an authenticator app shows now, computed from the device's key."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def wrong_code_for(device: TOTPDevice) -> str:
    right = code_for(device)
    return "000000" if right != "000000" else "111111"


def signed_in(user, ip="192.0.2.10") -> Client:
    """A browser that has given the password (the first step only)."""
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def enrol(client, clock) -> tuple[TOTPDevice, list[str]]:
    """Enrol the client's user as they would: open the page, type the app's code."""
    assert client.get(reverse("two_factor_setup")).status_code == 200
    device = TOTPDevice.objects.get(user_id=client.session["_auth_user_id"], confirmed=False)
    response = client.post(reverse("two_factor_setup"), {"code": code_for(device)})
    assert response.status_code == 200
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", response.content.decode())
    clock.shift(timedelta(seconds=31))  # the next code is a new one
    device.refresh_from_db()
    return device, codes


def with_role(role):
    user = UserFactory(role=role)
    if role == roles.PATIENT:
        PatientFactory(user=user, email=user.email)
    return user


def enrolled_user(clock, role=roles.CLINICIAN):
    user = with_role(role)
    client = Client()
    client.force_login(user)
    device, codes = enrol(client, clock)
    return user, device, codes


def verify(client, code, **extra):
    return client.post(reverse("two_factor_verify"), {"code": code, **extra})


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


# --- Enrolment ------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_confirms_with_a_real_code(clock):
    user = UserFactory(role=roles.CLINICIAN)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("two_factor_setup"))
    body = page.content.decode()
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    # An inline SVG QR code and the secret as text; nothing a strict CSP would block.
    assert '<svg role="img"' in body and two_factor.secret_text(device) in body
    assert "style=" not in body and "<script>" not in body and " onclick" not in body
    # Reloading shows the same device, not a new one.
    client.get(reverse("two_factor_setup"))
    assert TOTPDevice.objects.filter(user=user).count() == 1

    refused = client.post(reverse("two_factor_setup"), {"code": wrong_code_for(device)})
    assert "That code is not right" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and not is_verified(client)

    clock.shift(timedelta(seconds=2))  # django-otp's own pause after a wrong code
    shown = client.post(reverse("two_factor_setup"), {"code": code_for(device)})
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", shown.content.decode())
    assert len(set(codes)) == 10
    device.refresh_from_db()
    assert device.confirmed and is_verified(client)
    assert StaticToken.objects.filter(device__user=user).count() == 10
    # Shown once: the account page says how many are left, never which.
    overview = client.get(reverse("two_factor")).content.decode()
    assert "Recovery codes left: <strong>10</strong>" in overview
    assert not any(code in overview for code in codes)


def test_re_enrolment_replaces_the_device_and_the_codes(clock):
    user, old, old_codes = enrolled_user(clock)
    client = signed_in(user)
    assert verify(client, code_for(old)).status_code == 302
    clock.shift(timedelta(seconds=31))
    new, new_codes = enrol(client, clock)
    assert new.pk != old.pk and not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert not set(old_codes) & set(new_codes)
    assert is_verified(client)  # bound to the new device now
    assert client.get(reverse("schedule")).status_code == 200


# --- The code step --------------------------------------------------------------------------


def test_an_enrolled_user_gives_a_code_before_any_page_opens(clock):
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    assert not is_verified(client)
    for name in ("schedule", "patient_list", "two_factor", "password_change", "home"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("two_factor_verify") + "?next=")
    page = client.get(reverse("two_factor_verify"))
    assert page.status_code == 200
    assert b'href="/schedule/"' not in page.content  # no navigation while the code is owed

    refused = verify(client, wrong_code_for(device))
    assert refused.status_code == 200 and "That code is not right" in refused.content.decode()
    assert not is_verified(client)
    assert client.get(reverse("schedule")).status_code == 302

    clock.shift(timedelta(seconds=2))
    key_before = client.session.session_key
    accepted = verify(client, code_for(device), next="/schedule/")
    assert accepted.status_code == 302 and accepted["Location"] == "/schedule/"
    assert client.session.session_key != key_before  # a new session key with the factor
    assert is_verified(client)
    assert client.get(reverse("schedule")).status_code == 200
    # The same code is not accepted twice (another browser replaying it).
    other = signed_in(user, ip="192.0.2.11")
    assert not is_verified(other)
    assert verify(other, code_for(device)).status_code == 200
    assert not is_verified(other)


def test_next_is_kept_on_this_site(clock):
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    response = client.get(reverse("patient_list") + "?q=x")
    assert response["Location"] == reverse("two_factor_verify") + "?next=%2Fpatients%2F%3Fq%3Dx"
    for elsewhere in ("https://evil.example/", "//evil.example/", "0", "javascript:x"):
        assert client.get(reverse("two_factor_verify"), {"next": elsewhere}).status_code == 200
        refused = verify(client, "12345a", next=elsewhere)
        assert refused.status_code == 200
    accepted = verify(client, code_for(device), next="//evil.example/")
    assert accepted["Location"] == reverse("home")
    assert client.get(reverse("two_factor_verify"), {"next": "0"})["Location"] == reverse("home")


def test_a_session_from_before_enrolment_cannot_replace_the_device(clock, settings):
    settings.STAFF_2FA_REQUIRED = True
    user = UserFactory(role=roles.CLINICIAN)
    stale = signed_in(user)  # password only, before the user enrolled
    enrolled = Client()
    enrolled.force_login(user)
    device, _ = enrol(enrolled, clock)
    response = stale.get(reverse("two_factor_setup"))
    assert response["Location"] == reverse("two_factor_verify")
    code = code_for(device)
    assert stale.post(reverse("two_factor_setup"), {"code": code}).status_code == 302
    assert TOTPDevice.objects.get(user=user, confirmed=True).pk == device.pk
    assert stale.get(reverse("schedule"))["Location"].startswith(reverse("two_factor_verify"))


def test_a_recovery_code_works_exactly_once(clock):
    user, device, codes = enrolled_user(clock)
    first = signed_in(user)
    assert verify(first, codes[0]).status_code == 302
    assert is_verified(first)
    assert first.get(reverse("schedule")).status_code == 200
    assert StaticToken.objects.filter(device__user=user).count() == 9

    second = signed_in(user)
    assert verify(second, codes[0]).status_code == 200
    assert not is_verified(second)
    clock.shift(timedelta(seconds=2))
    # Typed as printed, with the hyphen, in capitals, with spaces: the same code.
    assert verify(second, f"  {codes[1].upper()} ").status_code == 302
    assert is_verified(second)


def test_new_recovery_codes_replace_the_old_ones(clock):
    user, device, codes = enrolled_user(clock)
    client = signed_in(user)
    verify(client, code_for(device))
    response = client.post(reverse("two_factor_recovery_codes"))
    new_codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", response.content.decode())
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    other = signed_in(user)
    assert verify(other, codes[2]).status_code == 200 and not is_verified(other)
    clock.shift(timedelta(seconds=2))
    assert verify(other, new_codes[0]).status_code == 302 and is_verified(other)
    # A GET makes none (and no 500).
    assert client.get(reverse("two_factor_recovery_codes")).status_code == 405


def test_wrong_codes_are_slowed_down_then_paused_per_address(clock, settings):
    settings.TWO_FACTOR_FAILURES_PER_IP = "4/h"
    user, device, _ = enrolled_user(clock)
    client = signed_in(user, ip="203.0.113.5")
    verify(client, wrong_code_for(device))
    # django-otp's throttling: the device waits before it checks another code.
    waiting = verify(client, code_for(device))
    assert "Too many wrong codes in a row: wait 1 second" in waiting.content.decode()
    assert not is_verified(client)
    for _ in range(2):
        clock.shift(timedelta(seconds=60))
        verify(client, "12345a")  # malformed counts too
    clock.shift(timedelta(seconds=60))
    paused = verify(client, code_for(device))
    assert paused.status_code == 429
    assert "Too many wrong codes came from your network" in paused.content.decode()
    assert not is_verified(client)
    # Another address is not paused.
    other = signed_in(user, ip="198.51.100.20")
    assert verify(other, code_for(device)).status_code == 302


@pytest.mark.parametrize(
    "garbage", ["", " ", "abc", "1" * 100, "12345", "1234567", "١٢٣٤٥٦", "x" * 10_000, "\u202e1"]
)
def test_no_500_for_anything_typed_as_a_code(clock, garbage):
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    response = verify(client, garbage, remember="on", next=garbage)
    assert response.status_code == 200
    assert not is_verified(client)
    assert client.post(reverse("two_factor_setup"), {"code": garbage}).status_code == 302
    verify(client, code_for(device))
    for name in ("two_factor_setup", "two_factor_remove"):
        assert client.post(reverse(name), {"code": garbage}).status_code == 200
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_a_nul_in_a_code_is_refused_before_the_view(clock):
    user, _, _ = enrolled_user(clock)
    client = signed_in(user)
    assert verify(client, "12\x003456").status_code == 400


# --- Remember this device -------------------------------------------------------------------


def _remembered_client(user, device) -> Client:
    client = signed_in(user)
    response = verify(client, code_for(device), remember="on")
    assert response.status_code == 302
    cookie = response.cookies[two_factor.REMEMBER_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    client.post(reverse("logout"))
    return client


def _password_again(client, user):
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    return client.get(reverse("schedule"))


def test_a_remembered_device_skips_the_code_until_it_expires(clock):
    user, device, _ = enrolled_user(clock)
    client = _remembered_client(user, device)
    assert _password_again(client, user).status_code == 200
    client.post(reverse("logout"))
    clock.shift(timedelta(days=29, hours=23))
    assert _password_again(client, user).status_code == 200
    client.post(reverse("logout"))
    clock.shift(timedelta(hours=2))  # 30 days and an hour after it was set
    response = _password_again(client, user)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_verify"))


def test_without_remember_the_code_is_asked_again(clock):
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    response = verify(client, code_for(device))
    assert two_factor.REMEMBER_COOKIE not in response.cookies
    client.post(reverse("logout"))
    assert _password_again(client, user).status_code == 302


def test_the_remember_cookie_is_secure_outside_debug(clock, settings):
    user, device, _ = enrolled_user(clock)
    settings.DEBUG, settings.SESSION_COOKIE_SECURE = False, False
    secure = verify(signed_in(user), code_for(device), remember="on")
    assert secure.cookies[two_factor.REMEMBER_COOKIE]["secure"]
    clock.shift(timedelta(seconds=31))
    settings.DEBUG = True
    plain = verify(signed_in(user), code_for(device), remember="on")
    assert not plain.cookies[two_factor.REMEMBER_COOKIE]["secure"]


def test_a_tampered_cookie_is_refused(clock):
    user, device, _ = enrolled_user(clock)
    client = _remembered_client(user, device)
    value = client.cookies[two_factor.REMEMBER_COOKIE].value
    client.cookies[two_factor.REMEMBER_COOKIE] = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    assert _password_again(client, user).status_code == 302
    client.post(reverse("logout"))
    client.cookies[two_factor.REMEMBER_COOKIE] = f"{user.pk}:{'0' * 64}"  # unsigned
    assert _password_again(client, user).status_code == 302


def test_the_cookie_is_bound_to_the_user_the_password_and_the_device(clock):
    user, device, _ = enrolled_user(clock)
    other, other_device, _ = enrolled_user(clock, role=roles.CLINIC_ADMIN)
    client = _remembered_client(user, device)
    # Another user on the same browser still gives their code.
    client.post(reverse("login"), {"username": other.username, "password": PASSWORD})
    assert client.get(reverse("follow_up_review")).status_code == 302
    client.post(reverse("logout"))
    # A changed password makes it worthless.
    user.set_password(PASSWORD)  # a new hash (new salt), the same words
    user.save()
    assert _password_again(client, user).status_code == 302
    client.post(reverse("logout"))
    # So does a re-enrolled device.
    clock.shift(timedelta(seconds=31))
    client = _remembered_client(user, device)
    assert _password_again(client, user).status_code == 200
    clock.shift(timedelta(seconds=31))
    enrol(client, clock)
    client.post(reverse("logout"))
    assert _password_again(client, user).status_code == 302


def test_no_remember_option_when_its_days_are_zero(clock, settings):
    settings.TWO_FACTOR_REMEMBER_DAYS = 0
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    assert b"Remember this device" not in client.get(reverse("two_factor_verify")).content
    response = verify(client, code_for(device), remember="on")
    assert two_factor.REMEMBER_COOKIE not in response.cookies


# --- STAFF_2FA_REQUIRED ---------------------------------------------------------------------


def test_required_by_default_in_production_only():
    shell = "from django.conf import settings; print('required:', settings.STAFF_2FA_REQUIRED)"

    def required(env):
        return manage("shell", "-c", shell, env=env).stdout.split("required: ")[-1].strip()

    assert required(PRODUCTION) == "True"
    assert required({"DEBUG": "1"}) == "False"
    assert required({"DEBUG": "1", "STAFF_2FA_REQUIRED": "1"}) == "True"


@pytest.mark.parametrize(
    ("role", "page", "required"),
    [
        (roles.CLINICIAN, "schedule", True),
        (roles.CLINIC_ADMIN, "follow_up_review", True),
        (roles.CLINIC_STAFF, "schedule", False),
        (roles.PATIENT, "portal_home", False),
    ],
)
def test_required_mode_sends_clinicians_and_admins_to_enrol(clock, settings, role, page, required):
    settings.STAFF_2FA_REQUIRED = True
    user = with_role(role)
    client = Client()
    client.force_login(user)
    response = client.get(reverse(page))
    if not required:
        assert response.status_code == 200
        return
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup") + "?next=")
    assert client.post(reverse(page)).status_code == 302  # POSTs too
    device, _ = enrol(client, clock)
    assert client.get(reverse(page)).status_code == 200
    # At the next sign-in: refused without the code, allowed after it.
    fresh = signed_in(user)
    assert fresh.get(reverse(page))["Location"].startswith(reverse("two_factor_verify"))
    verify(fresh, code_for(device))
    assert fresh.get(reverse(page)).status_code == 200


def test_off_nobody_is_asked_to_enrol(settings, clinician_client):
    settings.STAFF_2FA_REQUIRED = False
    assert clinician_client.get(reverse("schedule")).status_code == 200
    admin = Client()
    admin.force_login(UserFactory(role=roles.CLINIC_ADMIN, is_staff=True))
    assert admin.get(reverse("admin:index")).status_code == 200


def test_reception_and_patients_may_enrol_and_are_then_asked(clock, settings):
    settings.STAFF_2FA_REQUIRED = True
    for role, page in ((roles.CLINIC_STAFF, "schedule"), (roles.PATIENT, "portal_home")):
        user, device, _ = enrolled_user(clock, role=role)
        client = signed_in(user)
        assert client.get(reverse(page))["Location"].startswith(reverse("two_factor_verify"))
        verify(client, code_for(device))
        assert client.get(reverse(page)).status_code == 200


def test_the_admin_site_needs_the_second_factor(clock, settings):
    settings.STAFF_2FA_REQUIRED = True
    admin = UserFactory(role=roles.CLINIC_ADMIN, is_staff=True)
    client = Client()
    client.force_login(admin)
    response = client.get(reverse("admin:index"))
    assert response["Location"].startswith(reverse("two_factor_setup"))
    # The site's own test, should a path ever reach it past the middleware.
    request = RequestFactory().get("/admin/")
    request.user, request.session = admin, client.session
    assert not admin_site.has_permission(request)
    enrol(client, clock)
    assert client.get(reverse("admin:index")).status_code == 200


def test_pages_open_while_the_factor_is_owed(clock, settings):
    settings.STAFF_2FA_REQUIRED = True
    client = Client()
    client.force_login(UserFactory(role=roles.CLINICIAN))
    assert client.get(reverse("healthz")).status_code in (200, 503)
    assert client.get(reverse("two_factor")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


# --- Removing and resetting -----------------------------------------------------------------


def test_removing_the_device_asks_for_a_current_code(clock):
    user, device, codes = enrolled_user(clock)
    client = signed_in(user)
    verify(client, code_for(device))
    clock.shift(timedelta(seconds=31))
    assert client.post(reverse("two_factor_remove"), {"code": wrong_code_for(device)}).status_code
    assert TOTPDevice.objects.filter(user=user).exists()
    clock.shift(timedelta(seconds=2))
    response = client.post(reverse("two_factor_remove"), {"code": code_for(device)})
    assert response["Location"] == reverse("two_factor")
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert client.get(reverse("schedule")).status_code == 200  # not required: open
    assert signed_in(user).get(reverse("schedule")).status_code == 200  # no code asked


def test_reset_by_command_records_who(clock, caplog):
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    verify(client, code_for(device))
    out = StringIO()
    with caplog.at_level(logging.WARNING, logger="clinic.security"):
        call_command("reset_two_factor", user.username, "--by", "it-desk", stdout=out)
    assert "reset (by it-desk" in out.getvalue()
    assert f"second factor of {user.username} was reset by it-desk" in caplog.text
    assert not TOTPDevice.objects.filter(user=user).exists()
    # The session bound to the removed device is no longer verified; not required: it goes on.
    assert client.get(reverse("schedule")).status_code in (200, 302)
    assert not is_verified(client)
    assert signed_in(user).get(reverse("schedule")).status_code == 200
    with pytest.raises(Exception, match="No user"):
        call_command("reset_two_factor", "nobody-at-all")


def test_a_reset_sends_a_required_user_to_enrol_again(clock, settings):
    settings.STAFF_2FA_REQUIRED = True
    user, device, _ = enrolled_user(clock)
    client = signed_in(user)
    verify(client, code_for(device))
    two_factor.remove_two_factor(user=user, actor="test")
    first = client.get(reverse("schedule"))
    assert first["Location"].startswith(reverse("two_factor_verify"))
    assert client.get(first["Location"])["Location"] == reverse("two_factor_setup")


def test_a_clinic_admin_resets_a_user_in_the_admin(clock, caplog):
    user, _, _ = enrolled_user(clock)
    admin = UserFactory(username="boss", role=roles.CLINIC_ADMIN, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    with caplog.at_level(logging.WARNING, logger="clinic.security"):
        response = client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "reset_two_factor", "_selected_action": [user.pk]},
        )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert f"second factor of {user.username} was reset by boss" in caplog.text


def test_a_plain_clinic_admin_resets_staff_but_not_a_superuser(clock):
    """Managing users (auth.change_user) covers a lost phone, but a superuser's account,
    its second factor included, stays with a superuser."""
    clinician, _, _ = enrolled_user(clock)
    root = UserFactory(username="root", role=roles.CLINIC_ADMIN, is_staff=True, is_superuser=True)
    root_client = Client()
    root_client.force_login(root)
    enrol(root_client, clock)
    admin = UserFactory(username="manager", role=roles.CLINIC_ADMIN, is_staff=True)
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [clinician.pk, root.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    assert TOTPDevice.objects.filter(user=root).exists()


def test_the_admin_never_shows_secrets():
    assert django_settings.OTP_ADMIN_HIDE_SENSITIVE_DATA


# --- Cost ---------------------------------------------------------------------------------


def test_no_extra_query_for_a_user_without_a_device(clock, settings):
    """The sign-in notes the user has no device: a page costs the same queries as it did
    before two-factor sign-in existed (with STAFF_2FA_REQUIRED on, for reception too)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.STAFF_2FA_REQUIRED = True
    client = signed_in(UserFactory(role=roles.CLINIC_STAFF))
    client.get(reverse("schedule"))  # warm up

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("schedule")).status_code == 200
        return len(captured)

    with_two_factor = queries()
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "accounts.middleware.TwoFactorMiddleware"
    ]
    assert queries() == with_two_factor


def test_the_code_page_keeps_a_constant_number_of_queries(clock, django_assert_max_num_queries):
    user, _, _ = enrolled_user(clock)
    client = signed_in(user)
    with django_assert_max_num_queries(5):
        assert client.get(reverse("two_factor_verify")).status_code == 200


# --- The demo says how sign-in works ------------------------------------------------------


@pytest.mark.parametrize("required", [False, True])
def test_the_demo_data_says_plainly_how_sign_in_works(settings, required):
    from treatments.management.commands.seed_demo import Command

    settings.STAFF_2FA_REQUIRED = required
    out = StringIO()
    Command(stdout=out)._say_how_sign_in_works()
    said = out.getvalue()
    assert ("is ON here" in said) == required and ("is OFF in this demo" in said) != required
    assert "authenticator app" in said and "Two-factor" in said
