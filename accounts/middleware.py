"""Sign staff out after a spell without activity (STAFF_IDLE_TIMEOUT_MINUTES), and open no
page to a session that still owes its second factor.

A staff session on a shared front-desk computer must not stay open for the next person.
Patients keep Django's normal session length: their portal holds only their own record.
"""

from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import pgettext
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from . import prepared, roles, two_factor

LAST_SEEN_KEY = "staff_last_seen"
# Write the session at most this often: a page view should not cost a database write.
TOUCH_EVERY_SECONDS = 60


def start_idle_clock(sender, request, user, **kwargs):
    """Receiver of user_logged_in: the clock starts at sign-in, so the first page after it
    does not write the session again."""
    if hasattr(request, "session"):
        request.session[LAST_SEEN_KEY] = int(timezone.now().timestamp())


class StaffIdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and roles.is_staff_member(user):
            now = int(timezone.now().timestamp())
            last_seen = request.session.get(LAST_SEEN_KEY)
            limit = settings.STAFF_IDLE_TIMEOUT_MINUTES * 60
            if last_seen is not None and now - last_seen > limit:
                logout(request)
                messages.info(
                    request,
                    pgettext(
                        "staff",
                        "You were signed out after %(minutes)s minutes without activity. "
                        "Please sign in again.",
                    )
                    % {"minutes": settings.STAFF_IDLE_TIMEOUT_MINUTES},
                )
                return redirect_to_login(request.get_full_path())
            if last_seen is None or now - last_seen >= TOUCH_EVERY_SECONDS:
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)


# Pages a session owing its second factor may still open: signing out (or in as someone
# else), the health checks, and the second-factor pages themselves (static files are served
# before any of this, by whitenoise).
_ALWAYS_OPEN = frozenset({"logout", "login", "healthz", "ping"})
_ENROLMENT = frozenset({"two_factor", "two_factor_setup", "two_factor_verify"})


class TwoFactorMiddleware:
    """A signed-in user who has enrolled a device opens no page before giving a code (the
    code page); a clinician or clinic admin, while STAFF_2FA_REQUIRED is on, opens none
    before enrolling (the enrolment page) and giving it. That includes the admin site.

    Works from the resolved view (process_view), so a page's name, not a path prefix,
    decides. A session noted at sign-in as without a device costs no query here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or two_factor.is_verified(user):
            return None
        name = request.resolver_match.view_name if request.resolver_match else ""
        if two_factor.session_enrolled(request):
            target, open_here = "two_factor_verify", {"two_factor_verify"}
        elif two_factor.required_for(user):
            target, open_here = "two_factor_setup", _ENROLMENT
        else:
            return None
        # The page knows to show no navigation that would only lead back here.
        request.two_factor_pending = True
        if name in _ALWAYS_OPEN or name in open_here:
            return None
        url = reverse(target)
        if request.method == "GET":
            url += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(url)


# One compiled read per kind of device (accounts/prepared.py), by its persistent id's label.
_device_reads: dict[str, prepared.PreparedGet] = {}


class ClinicOTPMiddleware(OTPMiddleware):
    """django-otp's middleware (request.user.otp_device, is_verified()), reading the
    session's device with a statement compiled once per process rather than a queryset built
    on every request: the same row, the same checks (the device must exist, be confirmed
    and belong to the user: OTPMiddleware._finalize_device)."""

    def _device_from_persistent_id(self, persistent_id: str):
        persistent_id = self._normalize_persistent_id(persistent_id)
        label, _, device_id = persistent_id.rpartition("/")
        read = _device_reads.get(label)
        if read is None:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                return None
            if not issubclass(model, Device):
                return None
            read = _device_reads[label] = prepared.by_id(model)
        try:
            return read.get(int(device_id))
        except ValueError:
            return None
