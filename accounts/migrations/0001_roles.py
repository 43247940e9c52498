"""Create the role groups (clinic staff, clinician, clinic admin, patient) with permissions."""

from django.db import migrations

from accounts.migrations._sync import create_roles


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("patients", "0001_initial"),
        ("treatments", "0003_default_protocol"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
