"""Staff accounts in the back office: clinic admins hold `auth.add_user`/`auth.change_user`
(accounts/roles.py) to create accounts, give them a role (a group) and reset a lost second
factor. They do not make superusers, hand out single permissions outside the roles, or change
a superuser's account: those stay with a superuser, so managing users cannot lift anyone above
the clinic admin role.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.utils.translation import pgettext, pgettext_lazy

from . import two_factor


class ClinicUserAdmin(UserAdmin):
    actions = ["reset_two_factor"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    @admin.action(
        description=pgettext_lazy("staff", "Reset two-factor sign-in (lost phone)"),
        permissions=["change"],
    )
    def reset_two_factor(self, request, queryset):
        """The chosen users' authenticator apps and recovery codes stop working; who did it
        goes to the security log and the admin's history of each user. A superuser's second
        factor is reset by a superuser only (as the rest of their account)."""
        if not request.user.is_superuser:
            skipped = queryset.filter(is_superuser=True).count()
            queryset = queryset.filter(is_superuser=False)
            if skipped:
                self.message_user(
                    request,
                    pgettext(
                        "staff",
                        "%(count)s superuser(s) left alone: only a superuser resets theirs.",
                    )
                    % {"count": skipped},
                    messages.WARNING,
                )
        reset = 0
        for user in queryset:
            if two_factor.remove_two_factor(user=user, actor=request.user):
                reset += 1
                self.log_change(request, user, "Reset two-factor sign-in.")
        self.message_user(
            request,
            pgettext(
                "staff",
                "Two-factor sign-in reset for %(count)s user(s); they set it up again at their "
                "next sign-in.",
            )
            % {"count": reset},
            messages.SUCCESS,
        )


admin.site.unregister(User)
admin.site.register(User, ClinicUserAdmin)
