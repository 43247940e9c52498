"""Access to pages: anonymous users are sent to sign in; a user whose roles do not grant the
page's action gets 403.

Staff pages ask for the permission of their action (`permission_required`), never for a
role: accounts/roles.py ROLE_PERMISSIONS says which role holds which. The check reads the
roles cached for the request (`roles.role_grants`), so it costs no query of its own; the
services ask `has_perm` again where they act.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from . import roles


def _required(check):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def permission_required(*permissions: str):
    """The page is for users whose roles grant every one of `permissions`."""
    return _required(lambda user: all(roles.role_grants(user, p) for p in permissions))


# The portal is not an action of a role but a patient's own record: it checks the patient
# role here and ownership in every query.
patient_required = _required(roles.is_patient)
