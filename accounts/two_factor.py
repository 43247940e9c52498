"""Staff's second factor: an authenticator app (TOTP) and ten one-time recovery codes.

Built on django-otp. A password sign-in (Django's LoginView, guarded by django-axes) opens a
session that is signed in but not verified; accounts.middleware.TwoFactorMiddleware lets such
a session open no page but the code page while the user has a device, nor anything but
enrolment while their role needs one (STAFF_2FA_REQUIRED). A right code binds the session to
the device (django_otp.login: OTPMiddleware then makes `request.user.is_verified()` true for
as long as the device exists) and gives the session a new key.

"Remember this device" is a signed cookie naming the user and the device, with a fingerprint
of the password hash and the device's key: a changed password, a removed or re-enrolled
device, another user or a day past TWO_FACTOR_REMEMBER_DAYS each make it worthless.
"""

from __future__ import annotations

import logging
import re
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_otp
import segno
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import roles

logger = logging.getLogger("clinic.security")

RECOVERY_CODE_COUNT = 10
# Whether the signed-in user has an enrolled device, noted in the session at sign-in: the
# middleware then asks the database nothing on the pages of a user without one.
ENROLLED_SESSION_KEY = "two_factor_enrolled"
REMEMBER_COOKIE = "clinic_2fa_remember"
_REMEMBER_SALT = "accounts.two_factor.remember"
# What a code may look like once spaces and hyphens are gone: six digits from the app, or a
# recovery code (8 characters of lower-case base32, as django-otp makes them).
CODE_PATTERN = re.compile(r"[0-9]{6}|[a-z2-7]{8}")
REQUIRED_ROLES = frozenset({roles.CLINICIAN, roles.CLINIC_ADMIN})


def normalize_code(text: str) -> str:
    """What was typed, without the spaces and hyphens people copy with it, lower case."""
    return re.sub(r"[\s\-]", "", text).lower()


# --- Reading ----------------------------------------------------------------------------------


def enrolled_device(user) -> TOTPDevice | None:
    """The user's confirmed authenticator device, if they have enrolled."""
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def required_for(user) -> bool:
    """Whether this user's role must sign in with a second factor (clinicians and clinic
    admins, superusers counting as admins), when STAFF_2FA_REQUIRED is on."""
    return bool(
        settings.STAFF_2FA_REQUIRED
        and user.is_authenticated
        and roles.roles_of(user) & REQUIRED_ROLES
    )


def is_verified(user) -> bool:
    """The session is bound to a device (OTPMiddleware installs is_verified; a request that
    did not pass through it, or the sign-in request itself, is not verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def session_enrolled(request: HttpRequest) -> bool:
    """Whether the signed-in user has a device, from the session (noted at sign-in), asking
    the database once for a session that predates the note."""
    enrolled = request.session.get(ENROLLED_SESSION_KEY)
    if enrolled is None:
        enrolled = enrolled_device(request.user) is not None
        request.session[ENROLLED_SESSION_KEY] = enrolled
    return bool(enrolled)


def may_proceed(request: HttpRequest) -> bool:
    """Whether this session may open pages: verified, or neither enrolled nor required."""
    user = request.user
    if not user.is_authenticated or is_verified(user):
        return True
    return not session_enrolled(request) and not required_for(user)


def qr_code_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// link as an inline SVG QR code: no script, no style attribute,
    no image request (a Content-Security-Policy without 'unsafe-inline' allows it)."""
    svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", omitsize=False
    )
    label = "QR code to scan with your authenticator app"
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def secret_text(device: TOTPDevice) -> str:
    """The secret as an authenticator app takes it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def format_recovery_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}"


# --- Writing (services) -----------------------------------------------------------------------


@transaction.atomic
def start_enrolment(*, user) -> TOTPDevice:
    """The unconfirmed device the enrolment page shows (one per user, kept until confirmed or
    replaced): reloading the page shows the same QR code. The user row is locked so two tabs
    do not make two."""
    User = get_user_model()
    User.objects.select_for_update().filter(pk=user.pk).first()
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def _new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones (each works once:
    django-otp deletes a static token as it accepts it)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return sorted(codes)


@transaction.atomic
def confirm_enrolment(*, user, device_id: int, code: str) -> list[str] | None:
    """Confirm the device shown on the enrolment page with a code from the app. On success
    the device replaces any earlier one (re-enrolment) and the user gets new recovery codes,
    returned to be shown once; None for a wrong code."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False)
        .first()
    )
    if device is None or not device.verify_token(code):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    logger.info("Two-factor: %s enrolled an authenticator app.", user.get_username())
    return codes


@transaction.atomic
def regenerate_recovery_codes(*, user) -> list[str]:
    """New recovery codes for an enrolled user; the old ones stop working."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValueError("Only an enrolled user has recovery codes.")
    codes = _new_recovery_codes(user)
    logger.info("Two-factor: %s made new recovery codes.", user.get_username())
    return codes


@transaction.atomic
def remove_two_factor(*, user, actor) -> bool:
    """Delete the user's devices and recovery codes. `actor` is who did it (the user, a
    clinic admin, or a description of a command line), recorded in the security log.
    Returns whether there was anything to remove."""
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    actor_name = actor if isinstance(actor, str) else actor.get_username()
    if actor_name == user.get_username():
        logger.info("Two-factor: %s removed their second factor.", actor_name)
    else:
        logger.warning(
            "Two-factor: the second factor of %s was reset by %s.", user.get_username(), actor_name
        )
    return removed > 0


@dataclass
class Verification:
    device: TOTPDevice | StaticDevice | None = None
    locked_until: datetime | None = None


def verify_code(*, user, code: str) -> Verification:
    """Check a normalized code: six digits against the authenticator device, anything else
    against the recovery codes (which then stops working). A device django-otp is throttling
    after wrong codes answers with the time it opens again."""
    model: Any = TOTPDevice if code.isascii() and code.isdigit() else StaticDevice
    device = model.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return Verification()
    allowed, data = device.verify_is_allowed()
    if not allowed:
        return Verification(locked_until=(data or {}).get("locked_until"))
    return Verification(device=django_otp.verify_token(user, device.persistent_id, code))


# --- The session and the remember cookie ------------------------------------------------------


def bind_session(request: HttpRequest, device) -> None:
    """The session is verified by `device` from now on, under a new key."""
    django_otp.login(request, device)
    request.session.cycle_key()
    request.session[ENROLLED_SESSION_KEY] = True


def _fingerprint(user, device: TOTPDevice) -> str:
    material = f"{user.pk}|{user.password}|{device.persistent_id}|{device.key}"
    return salted_hmac(_REMEMBER_SALT, material, algorithm="sha256").hexdigest()


def remember_device(response: HttpResponse, *, user, device: TOTPDevice) -> None:
    days = settings.TWO_FACTOR_REMEMBER_DAYS
    if days <= 0:
        return
    response.set_signed_cookie(
        REMEMBER_COOKIE,
        f"{user.pk}:{_fingerprint(user, device)}",
        salt=_REMEMBER_SALT,
        max_age=days * 24 * 3600,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE or not settings.DEBUG,
        samesite="Lax",
    )


def forget_device(response: HttpResponse) -> None:
    response.delete_cookie(REMEMBER_COOKIE, samesite="Lax")


def remembered(request: HttpRequest, *, user, device: TOTPDevice) -> bool:
    """Whether the request carries a valid, unexpired remember cookie for this user and
    device (a tampered, foreign or expired one is simply not valid)."""
    days = settings.TWO_FACTOR_REMEMBER_DAYS
    if days <= 0 or REMEMBER_COOKIE not in request.COOKIES:
        return False
    value = request.get_signed_cookie(
        REMEMBER_COOKIE, default=None, salt=_REMEMBER_SALT, max_age=days * 24 * 3600
    )
    if not value:
        return False
    user_id, _, fingerprint = value.partition(":")
    return user_id == str(user.pk) and constant_time_compare(
        fingerprint, _fingerprint(user, device)
    )


def on_sign_in(sender, request, user, **kwargs) -> None:
    """Receiver of user_logged_in: note in the new session whether the user has a device, and
    verify it at once where the browser carries a valid remember cookie."""
    if request is None or not hasattr(request, "session"):
        return
    device = enrolled_device(user)
    request.session[ENROLLED_SESSION_KEY] = device is not None
    if device is not None and remembered(request, user=user, device=device):
        django_otp.login(request, device)
        logger.info("Two-factor: %s signed in on a remembered device.", user.get_username())
