"""The Django admin is the clinic admins' back office, and theirs only.

`is_staff` alone (Django's default test) let every staff account in, and through the admin
past the services' rules; the front desk and clinicians work in the front office. A clinic
admin is a user whose role grants `accounts.use_back_office` (the clinic admins) or a superuser,
with `is_staff` set; inside, each model page asks Django's own add/change/view permissions.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import pgettext_lazy

from . import roles


class ToFieldGuard:
    """`?_to_field=` naming a reverse relation (e.g. a room's `out_of_service`) made Django
    5.2's `ModelAdmin.to_field_allowed` read `.primary_key` off the relation object, which has
    none: HTTP 500 from a query string (found by tests/test_fuzz.py). Only a model's own
    columns can be referenced; anything else is refused as Django refuses unknown names."""

    def to_field_allowed(self, request, to_field):
        try:
            field = self.opts.get_field(to_field)  # type: ignore[attr-defined]
        except FieldDoesNotExist:
            return False
        if not getattr(field, "concrete", False):
            return False
        return super().to_field_allowed(request, to_field)  # type: ignore[misc]


class ClinicAdminSite(admin.AdminSite):
    site_header = pgettext_lazy("staff", "Clinic administration")
    site_title = pgettext_lazy("staff", "Clinic administration")

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model page, ours and the libraries', gets the ToFieldGuard."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ToFieldGuard):
            admin_class = type(admin_class.__name__, (ToFieldGuard, admin_class), {})
        return super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request):
        """A clinic admin, whose session has given its second factor where one is owed
        (TwoFactorMiddleware sends such a session to the code page first; this holds should
        the admin ever be reached another way)."""
        from . import two_factor  # models: not while the app registry is loading

        user = request.user
        return (
            user.is_active
            and user.is_staff
            and roles.role_grants(user, "accounts.use_back_office")
            and two_factor.may_proceed(request)
        )


class ClinicAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.ClinicAdminSite"
