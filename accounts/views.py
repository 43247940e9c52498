from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from . import roles


@login_required
def home(request):
    """Where each user starts: the follow-up review if they may review, else the day's
    schedule if they may see it, else (a patient) the portal."""
    user = request.user
    if roles.role_grants(user, "treatments.review_followup"):
        return redirect("follow_up_review")
    if roles.role_grants(user, "treatments.view_treatmentsession"):
        return redirect("schedule")
    if roles.is_patient(user):
        return redirect("portal_home")
    raise PermissionDenied("Your account has no role yet; ask the clinic to set it up.")


class SignOutView(LogoutView):
    """Sign out, and say so on the sign-in page it leads to (a shared computer at the desk:
    the next person sees the last one really left)."""

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:  # the session is new now; the message goes into it
            messages.success(request, "You are signed out.")
        return response
