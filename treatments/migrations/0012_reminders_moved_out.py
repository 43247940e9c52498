"""Reminders and their delivery attempts move to the reminders app, tables and rows as they
are (state only). reminders 0001 takes them over, keeping the table names."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('treatments', '0011_portal_records_moved'),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.RemoveField(
            model_name='reminder',
            name='follow_up',
        ),
        migrations.RemoveField(
            model_name='reminder',
            name='session',
        ),
        migrations.DeleteModel(
            name='DeliveryAttempt',
        ),
        migrations.DeleteModel(
            name='Reminder',
        ),
    ], database_operations=[])]
