"""Create the role groups (clinic staff, clinician, clinic admin, patient) with permissions."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("patients", "0001_initial"),
        ("treatments", "0003_default_protocol"),
    ]

    # Roles are kept in step by accounts.roles.sync_roles_after_migrate (post_migrate) now;
    # this migration stays so databases that applied it keep a consistent history.
    operations = []
