"""Clinicians and clinic admins may record a follow-up's findings; the front desk may not
(it marks attendance only). Every staff role reads a follow-up's earlier versions."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_reminder_permissions"),
        ("treatments", "0009_actors_and_follow_up_revisions"),
    ]

    # Roles are kept in step by accounts.roles.sync_roles_after_migrate (post_migrate) now;
    # this migration stays so databases that applied it keep a consistent history.
    operations = []
