"""Users in the back office, with the clinic admin's "reset two-factor" action."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from . import two_factor


class ClinicUserAdmin(UserAdmin):
    actions = ["reset_two_factor"]

    @admin.action(description="Reset two-factor sign-in (lost phone)", permissions=["change"])
    def reset_two_factor(self, request, queryset):
        """The chosen users' authenticator apps and recovery codes stop working; who did it
        goes to the security log and the admin's history of each user."""
        reset = 0
        for user in queryset:
            if two_factor.remove_two_factor(user=user, actor=request.user):
                reset += 1
                self.log_change(request, user, "Reset two-factor sign-in.")
        self.message_user(
            request,
            f"Two-factor sign-in reset for {reset} user(s); they set it up again at their next "
            "sign-in.",
            messages.SUCCESS,
        )


admin.site.unregister(User)
admin.site.register(User, ClinicUserAdmin)
