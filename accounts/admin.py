"""Staff accounts in the back office: clinic admins hold `auth.add_user`/`auth.change_user`
(accounts/roles.py) to create accounts and give them a role (a group). They do not make
superusers, hand out single permissions outside the roles, or change a superuser's account:
those stay with a superuser, so managing users cannot lift anyone above the clinic admin role.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User


class ClinicUserAdmin(UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, ClinicUserAdmin)
