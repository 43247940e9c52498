"""Side-effect reports and change requests move here from the portal app, tables and rows
as they are (state only; db_table keeps their names). portal 0003 lets go of them."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0006_patient_input_bounds'),
        ('treatments', '0010_follow_up_findings_shared'),
        ('portal', '0002_one_open_request_per_session'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='ChangeRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('reschedule', 'Move the session'), ('cancel', 'Cancel the session')], max_length=12)),
                ('message', models.TextField(blank=True, help_text='E.g. the dates that would suit.')),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('handled_at', models.DateTimeField(blank=True, null=True)),
                ('handled_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='change_requests', to='patients.patient')),
                ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='change_requests', to='treatments.treatmentsession')),
            ],
            options={
                'db_table': 'portal_changerequest',
                'ordering': ['-requested_at'],
                'indexes': [models.Index(condition=models.Q(('handled_at__isnull', True)), fields=['patient'], name='change_request_open_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('handled_at__isnull', True)), fields=('session',), name='change_request_one_open_per_session')],
            },
        ),
        migrations.CreateModel(
            name='SideEffectReport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('description', models.TextField()),
                ('reported_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('staff_note', models.TextField(blank=True)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='side_effect_reports', to='patients.patient')),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('session', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='side_effect_reports', to='treatments.treatmentsession')),
            ],
            options={
                'db_table': 'portal_sideeffectreport',
                'ordering': ['-reported_at'],
                'indexes': [models.Index(condition=models.Q(('resolved_at__isnull', True)), fields=['patient'], name='side_effect_open_idx')],
            },
        ),
    ], database_operations=[])]
