"""The front desk's "hand the device to the patient" lock.

While a staff session holds a patient-signing lock (frontdesk.views.consents.hand_over),
every page but the locked signing page, its unlock form and signing out redirects back to
the signing page, whatever URL is typed: the patient holding the tablet sees the consent
and nothing else of the clinic's. The staff member who handed the tablet over unlocks it
with their own password.
"""

from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

LOCK_KEY = "desk_signing_lock"
# Pages a locked session may still open.
OPEN_WHILE_LOCKED = frozenset({"desk_patient_signing", "desk_unlock", "logout", "healthz", "ping"})


def lock_of(request) -> dict | None:
    """The session's lock (patient, version, witness, signed), if it has one that binds this
    user; a lock left by another account is dropped."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    lock = session.get(LOCK_KEY)
    if not lock:
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or lock.get("witness") != user.pk:
        del session[LOCK_KEY]
        return None
    return lock


class DeskSigningLockMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if lock_of(request) is not None:
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name not in OPEN_WHILE_LOCKED:
                return HttpResponseRedirect(reverse("desk_patient_signing"))
        return self.get_response(request)
