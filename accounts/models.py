from django.db import models


class StaffAction(models.Model):
    """No table: the holder of the permissions that belong to no clinical model (Django
    attaches every permission to a model's content type), so that they are granted to roles
    like any other (accounts/roles.py) and checked with `has_perm`."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("use_back_office", "Can use the back office (the Django admin)"),
        ]

    def __str__(self):
        return "Staff actions"
