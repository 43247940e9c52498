"""The sign-in backend: Django's ModelBackend, with the user's roles read together with
the user.

Every request of a signed-in user loads the user (`get_user`); nearly every page then asks
their roles (accounts.roles.roles_of: the navigation, the permission checks, the two-factor
rule), which cost a second query. Here one query reads both, and roles_of finds them cached.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q

from . import roles
from .prepared import PreparedGet


def _user_with_roles(user_id):
    return (
        get_user_model()
        ._default_manager.annotate(
            role_names=ArrayAgg(
                "groups__name", filter=Q(groups__isnull=False), distinct=True, default=[]
            )
        )
        .filter(pk=user_id)
    )


# Compiled once per process (accounts/prepared.py): this read is on every signed-in request.
_read_user = PreparedGet(_user_with_roles)


class ClinicModelBackend(ModelBackend):
    def get_user(self, user_id):
        if connection.vendor != "postgresql":
            return super().get_user(user_id)
        try:
            user_id = get_user_model()._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        user = _read_user.get(user_id)
        if user is None:
            return None
        roles.remember_roles(user, user.role_names)
        return user if self.user_can_authenticate(user) else None
