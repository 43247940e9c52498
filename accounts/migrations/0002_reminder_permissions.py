"""Give the roles the reminder permissions (staff see reminders and resend failed ones)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_roles"),
        ("treatments", "0004_reminders"),
    ]

    # Roles are kept in step by accounts.roles.sync_roles_after_migrate (post_migrate) now;
    # this migration stays so databases that applied it keep a consistent history.
    operations = []
