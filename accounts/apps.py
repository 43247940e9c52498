from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_migrate

        from .middleware import start_idle_clock
        from .roles import sync_roles_after_migrate
        from .throttle import count_sign_in_failure
        from .two_factor import on_sign_in

        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="accounts.roles")
        user_logged_in.connect(start_idle_clock, dispatch_uid="accounts.start_idle_clock")
        user_logged_in.connect(on_sign_in, dispatch_uid="accounts.two_factor.on_sign_in")
        user_login_failed.connect(
            count_sign_in_failure, dispatch_uid="accounts.count_sign_in_failure"
        )
