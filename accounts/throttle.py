"""Throttles that django-axes does not give: sign-in failures from one address across every
username (password spraying), wrong second-factor codes from one address, and password-reset
requests (mail bombing, enumeration).

django-axes locks a (username, address) pair after AXES_FAILURE_LIMIT failures; here one
address is paused after SIGN_IN_FAILURES_PER_IP failures whatever the usernames, and the reset
form after RESET_REQUESTS_PER_IP requests from one address or RESET_REQUESTS_PER_EMAIL for one
address book entry. Counters live in the "throttle" cache (Redis) through django-ratelimit.
Should Redis be down, sign-in and reset keep working (fail open) and the failure is logged:
axes' per-account lockout, kept in the database, still holds.
"""

import hashlib
import logging
from functools import wraps

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.shortcuts import render
from django_ratelimit.core import get_usage

logger = logging.getLogger("clinic.security")


def _client_ip(group, request) -> str:
    return get_client_ip_address(request) or "unknown"


def _over(request, *, group: str, rate: str, key, increment: bool) -> bool:
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=increment)
    except Exception as exc:  # the cache is down: fail open, axes still guards accounts
        logger.warning("Throttle %s unavailable (%s); not throttling.", group, exc)
        return False
    if not usage:
        return False
    # Counting this request: over once it goes past the limit. Only looking (the failures
    # so far): paused once they reach it.
    return usage["should_limit"] if increment else usage["count"] >= usage["limit"]


def sign_in_paused(request) -> bool:
    """This address has failed to sign in too often, across all usernames."""
    return _over(
        request,
        group="sign-in-failures-ip",
        rate=settings.SIGN_IN_FAILURES_PER_IP,
        key=_client_ip,
        increment=False,
    )


def count_sign_in_failure(sender=None, *, request=None, **kwargs) -> None:
    """Receiver of django.contrib.auth's user_login_failed: one more failure from here."""
    if request is None:
        return
    _over(
        request,
        group="sign-in-failures-ip",
        rate=settings.SIGN_IN_FAILURES_PER_IP,
        key=_client_ip,
        increment=True,
    )


def two_factor_paused(request) -> bool:
    """This address has given too many wrong second-factor codes, across all accounts
    (django-otp's own throttling slows each device down; this stops one address guessing
    at many)."""
    return _over(
        request,
        group="two-factor-failures-ip",
        rate=settings.TWO_FACTOR_FAILURES_PER_IP,
        key=_client_ip,
        increment=False,
    )


def count_two_factor_failure(request) -> None:
    """One more wrong (or malformed) second-factor code from this address."""
    _over(
        request,
        group="two-factor-failures-ip",
        rate=settings.TWO_FACTOR_FAILURES_PER_IP,
        key=_client_ip,
        increment=True,
    )


def reset_paused(request, email: str) -> bool:
    """Count one password-reset request; True when its address or its email is over limit."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    by_ip = _over(
        request,
        group="reset-ip",
        rate=settings.RESET_REQUESTS_PER_IP,
        key=_client_ip,
        increment=True,
    )
    by_email = _over(
        request,
        group="reset-email",
        rate=settings.RESET_REQUESTS_PER_EMAIL,
        key=lambda group, request: digest,
        increment=True,
    )
    return by_ip or by_email


def paused_on_post(check, template: str):
    """Wrap a sign-in or reset view: a POST over its throttle gets a 429 page instead."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method == "POST" and check(request):
                return render(request, template, status=429)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _reset_request_paused(request) -> bool:
    return reset_paused(request, request.POST.get("email", "")[:254])


throttle_sign_in = paused_on_post(sign_in_paused, "registration/locked_out.html")
throttle_password_reset = paused_on_post(_reset_request_paused, "registration/reset_paused.html")
