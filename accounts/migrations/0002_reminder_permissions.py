"""Give the roles the reminder permissions (staff see reminders and resend failed ones)."""

from django.db import migrations

from accounts.migrations._sync import create_roles


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_roles"),
        ("treatments", "0004_reminders"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
