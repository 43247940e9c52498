"""The sign-in backend: Django's ModelBackend, with the user's roles read together with
the user.

Every request of a signed-in user loads the user (`get_user`); nearly every page then asks
their roles (accounts.roles.roles_of: the navigation, the permission checks, the two-factor
rule), which cost a second query. Here one query reads both, and roles_of finds them cached.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Q

from . import roles


class ClinicModelBackend(ModelBackend):
    def get_user(self, user_id):
        users = get_user_model()._default_manager
        if connection.vendor != "postgresql":
            return super().get_user(user_id)
        try:
            user = users.annotate(
                role_names=ArrayAgg(
                    "groups__name", filter=Q(groups__isnull=False), distinct=True, default=[]
                )
            ).get(pk=user_id)
        except users.model.DoesNotExist:
            return None
        roles.remember_roles(user, user.role_names)
        return user if self.user_can_authenticate(user) else None
