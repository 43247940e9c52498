"""Two-factor sign-in in a real browser: a clinician, required to use it, enrols by typing the
key the page shows into "their app" (here: django-otp's TOTP), keeps the recovery codes,
then signs in again with a code."""

import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP

from accounts import roles
from tests.browser.conftest import axe_violations, sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def app_code(secret: str, *, later: int = 0) -> str:
    """What an authenticator app shows for this key, `later` seconds from now.

    A code read in the last seconds of its 30-second step may reach the server in the next
    step; django-otp then accepts it one step back and records that drift for the device, and
    the test's next code (one step ahead) would fall outside the tolerance. So wait for a fresh
    step first, as a person would when the app's countdown is nearly out."""
    if 30 - time.time() % 30 < 6:
        time.sleep(30 - time.time() % 30 + 0.5)
    totp = TOTP(b32decode(secret.replace(" ", "")), step=30, t0=0, digits=6)
    totp.time = time.time() + later
    return f"{totp.token():06d}"


def test_a_clinician_enrols_then_signs_in_with_a_code(page, live_server, settings, screenshot):
    settings.STAFF_2FA_REQUIRED = True
    UserFactory(username="dr.meyer", first_name="Anna", last_name="Meyer", role=roles.CLINICIAN)

    sign_in(page, live_server, "dr.meyer")
    page.wait_for_url("**/accounts/two-factor/setup/**")
    assert page.locator(".qr-code svg").is_visible()
    assert axe_violations(page) == []
    screenshot("two-factor-setup")
    secret = page.inner_text("#totp-secret")
    page.fill("#id_code", app_code(secret))
    page.click("main button:has-text('Confirm')")
    page.wait_for_selector("text=Two-factor sign-in is set up.")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("text=I have kept them: continue")
    page.wait_for_url("**/schedule/")

    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/accounts/login/")
    sign_in(page, live_server, "dr.meyer")
    page.wait_for_url("**/accounts/two-factor/verify/**")
    assert axe_violations(page) == []
    # The next step's code: the one just used is not accepted twice.
    page.fill("#id_code", app_code(secret, later=30))
    page.click("main button:has-text('Sign in')")
    page.wait_for_url("**/schedule/")
    assert page.locator("text=Schedule").first.is_visible()
