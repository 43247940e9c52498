"""Sign staff out after a spell without activity (STAFF_IDLE_TIMEOUT_MINUTES).

A staff session on a shared front-desk computer must not stay open for the next person.
Patients keep Django's normal session length: their portal holds only their own record.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.utils import timezone

from . import roles

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
                    f"You were signed out after {settings.STAFF_IDLE_TIMEOUT_MINUTES} minutes "
                    "without activity. Please sign in again.",
                )
                return redirect_to_login(request.get_full_path())
            if last_seen is None or now - last_seen >= TOUCH_EVERY_SECONDS:
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)
