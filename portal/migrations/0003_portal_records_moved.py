"""Side-effect reports and change requests are treatments' models now (the portal holds pages
only). Their tables stay where they are: only Django's idea of which app owns them moves
(treatments 0011 takes them over, keeping the table names)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0002_one_open_request_per_session'),
        ('treatments', '0011_portal_records_moved'),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.RemoveField(
            model_name='sideeffectreport',
            name='patient',
        ),
        migrations.RemoveField(
            model_name='sideeffectreport',
            name='resolved_by',
        ),
        migrations.RemoveField(
            model_name='sideeffectreport',
            name='session',
        ),
        migrations.DeleteModel(
            name='ChangeRequest',
        ),
        migrations.DeleteModel(
            name='SideEffectReport',
        ),
    ], database_operations=[])]
