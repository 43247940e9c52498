"""Clinicians and clinic admins may record a follow-up's findings; the front desk may not
(it marks attendance only). Every staff role reads a follow-up's earlier versions."""

from django.db import migrations

from accounts.migrations._sync import create_roles


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_reminder_permissions"),
        ("treatments", "0009_actors_and_follow_up_revisions"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
