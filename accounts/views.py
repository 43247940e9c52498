from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from . import roles


@login_required
def home(request):
    """Where each role starts: the day's schedule, the follow-up review, or the portal."""
    user = request.user
    if roles.is_clinic_admin(user):
        return redirect("follow_up_review")
    if roles.is_staff_member(user):
        return redirect("schedule")
    if roles.is_patient(user):
        return redirect("portal_home")
    raise PermissionDenied("Your account has no role yet; ask the clinic to set it up.")
