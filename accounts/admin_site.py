"""The Django admin is the clinic admins' back office, and theirs only.

`is_staff` alone (Django's default test) let every staff account in, and through the admin
past the services' rules; the front desk and clinicians work in the front office. A clinic
admin is a user whose role grants `accounts.use_back_office` (the clinic admins) or a superuser,
with `is_staff` set; inside, each model page asks Django's own add/change/view permissions.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from . import roles


class ClinicAdminSite(admin.AdminSite):
    site_header = "Clinic administration"
    site_title = "Clinic administration"

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
