"""Access to pages by role: anonymous users are sent to sign in, the wrong role gets 403."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from . import roles


def _role_required(check):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


staff_required = _role_required(roles.is_staff_member)
admin_required = _role_required(roles.is_clinic_admin)
patient_required = _role_required(roles.is_patient)
