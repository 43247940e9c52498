"""Reset a staff member's second factor (a lost phone and no recovery codes left): their
authenticator app and recovery codes stop working; if their role needs a second factor they
set up a new one at their next sign-in. Who ran it is written to the security log."""

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import two_factor


class Command(BaseCommand):
    help = "Remove a user's two-factor devices and recovery codes (they enrol again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--by",
            default="",
            help="Who is resetting it, for the security log (default: the system user).",
        )

    def handle(self, *args, username, by, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        actor = f"{by or getpass.getuser()} (manage.py reset_two_factor)"
        if two_factor.remove_two_factor(user=user, actor=actor):
            self.stdout.write(
                self.style.SUCCESS(f"The second factor of {username} is reset (by {actor}).")
            )
        else:
            self.stdout.write(f"{username} had no second factor; nothing to reset.")
