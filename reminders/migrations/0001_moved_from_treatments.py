"""The outbox and its delivery log, taken over from the treatments app with their tables,
constraints, indexes and rows as they are (state only; db_table keeps the names)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('treatments', '0012_reminders_moved_out'),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='Reminder',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('booking_confirmation', 'Booking confirmation'), ('nsaid_stop', 'NSAID stop'), ('day_before', 'Day before'), ('aftercare', 'Aftercare'), ('nsaid_end', 'NSAID end'), ('follow_up_due', 'Follow-up due'), ('next_session_eligible', 'Next session eligible'), ('cancellation', 'Cancellation notice')], max_length=24)),
                ('channel', models.CharField(choices=[('email', 'Email'), ('sms', 'SMS')], max_length=8)),
                ('occasion', models.PositiveSmallIntegerField(default=0)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('withdrawn', 'Withdrawn'), ('expired', 'Expired')], default='pending', max_length=12)),
                ('due_at', models.DateTimeField(help_text='When it is meant to go out (UTC).')),
                ('expires_at', models.DateTimeField(help_text='It is never sent at or after this instant.')),
                ('not_before', models.DateTimeField(help_text='When a worker may next try (retries back off).')),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('leased_until', models.DateTimeField(blank=True, null=True)),
                ('lease_token', models.UUIDField(blank=True, null=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('status_note', models.TextField(blank=True, help_text='Why it failed or was withdrawn.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('follow_up', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reminders', to='treatments.followup')),
                ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reminders', to='treatments.treatmentsession')),
            ],
            options={
                'db_table': 'treatments_reminder',
                'ordering': ['due_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempted_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('succeeded', models.BooleanField()),
                ('error', models.TextField(blank=True)),
                ('worker', models.CharField(blank=True, max_length=200)),
                ('reminder', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='reminders.reminder')),
            ],
            options={
                'db_table': 'treatments_deliveryattempt',
                'ordering': ['attempted_at', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='reminder',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['not_before'], name='reminder_pending_idx'),
        ),
        migrations.AddIndex(
            model_name='reminder',
            index=models.Index(condition=models.Q(('state', 'failed')), fields=['updated_at'], name='reminder_failed_idx'),
        ),
        migrations.AddConstraint(
            model_name='reminder',
            constraint=models.UniqueConstraint(condition=models.Q(('follow_up__isnull', True)), fields=('session', 'kind', 'channel', 'occasion'), name='reminder_once_per_session'),
        ),
        migrations.AddConstraint(
            model_name='reminder',
            constraint=models.UniqueConstraint(condition=models.Q(('follow_up__isnull', False)), fields=('follow_up', 'kind', 'channel'), name='reminder_once_per_follow_up'),
        ),
        migrations.AddConstraint(
            model_name='reminder',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'sent'), _negated=True), ('sent_at__isnull', False), _connector='OR'), name='reminder_sent_has_time'),
        ),
    ], database_operations=[])]
