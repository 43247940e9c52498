"""Issue 12 (front office): follow-up windows ("Due now", and the earliest a follow-up can
be recorded), the day a patient was actually seen, NSAID decisions with their history and
short-notice bookings awaiting one, and the outcome of a patient's change request.

Existing rows are filled in: each planned or recorded follow-up gets the default window
(14 days either side of its due date, never before its session's day); a done follow-up's
seen-on day is the clinic day it was recorded as done; a handled change request gets an
outcome saying it was handled before outcomes were recorded; each decision on file becomes
the first row of its session's decision history.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

WINDOW_DAYS = 14  # the default window (treatments.rules.DEFAULT_FOLLOW_UP_WINDOW_DAYS today)

WINDOW_SQL = f"""
UPDATE treatments_followup AS f
SET due_from = GREATEST(s.local_date, f.due_date - {WINDOW_DAYS}),
    due_until = f.due_date + {WINDOW_DAYS}
FROM treatments_treatmentsession AS s
WHERE s.id = f.session_id
"""


def fill_windows(apps, schema_editor):
    """Each follow-up's window: 14 days either side of its due date, not before its session.
    One UPDATE on PostgreSQL; row by row elsewhere (a developer's SQLite)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WINDOW_SQL)
        return
    FollowUp = apps.get_model("treatments", "FollowUp")
    for follow_up in FollowUp.objects.select_related("session").iterator():
        follow_up.due_from = max(
            follow_up.session.local_date, follow_up.due_date - timedelta(days=WINDOW_DAYS)
        )
        follow_up.due_until = follow_up.due_date + timedelta(days=WINDOW_DAYS)
        follow_up.save(update_fields=["due_from", "due_until"])


def fill_seen_on(apps, schema_editor):
    """The clinic day each done follow-up was recorded as done (the best we know)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "UPDATE treatments_followup SET seen_on = (seen_at AT TIME ZONE %s)::date "
            "WHERE seen_at IS NOT NULL AND seen_on IS NULL",
            [settings.CLINIC_TIME_ZONE],
        )
        return
    FollowUp = apps.get_model("treatments", "FollowUp")
    clinic = ZoneInfo(settings.CLINIC_TIME_ZONE)
    for follow_up in FollowUp.objects.filter(seen_at__isnull=False).iterator():
        follow_up.seen_on = follow_up.seen_at.astimezone(clinic).date()
        follow_up.save(update_fields=["seen_on"])


OUTCOME_SQL = """
UPDATE portal_changerequest SET outcome = 'Handled (before outcomes were recorded).'
WHERE handled_at IS NOT NULL AND outcome = ''
"""

DECISIONS_SQL = """
INSERT INTO treatments_nsaiddecision (session_id, decision, decided_by_id, decided_at, reason)
SELECT id, nsaid_decision, nsaid_decided_by_id, nsaid_decided_at, ''
FROM treatments_treatmentsession
WHERE nsaid_decided_at IS NOT NULL AND nsaid_decided_by_id IS NOT NULL AND nsaid_decision <> ''
"""


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0006_patient_input_bounds'),
        ('treatments', '0012_reminders_moved_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='NsaidDecision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('decision', models.TextField()),
                ('decided_at', models.DateTimeField()),
                ('reason', models.TextField(blank=True, help_text='Why an earlier decision was revised.')),
            ],
            options={
                'ordering': ['session', 'decided_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='changerequest',
            name='outcome',
            field=models.TextField(blank=True, help_text='What was done, in words for the patient (shown in the portal).'),
        ),
        migrations.AddField(
            model_name='followup',
            name='due_from',
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name='followup',
            name='due_until',
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name='followup',
            name='seen_on',
            field=models.DateField(blank=True, null=True, verbose_name='seen on'),
        ),
        migrations.AddField(
            model_name='followuprevision',
            name='seen_on',
            field=models.DateField(blank=True, null=True, verbose_name='seen on'),
        ),
        migrations.RunPython(fill_windows, migrations.RunPython.noop),
        migrations.AlterField(model_name='followup', name='due_from', field=models.DateField()),
        migrations.AlterField(model_name='followup', name='due_until', field=models.DateField()),
        migrations.RunPython(fill_seen_on, migrations.RunPython.noop),
        migrations.RunSQL(OUTCOME_SQL, migrations.RunSQL.noop),
        migrations.AddField(
            model_name='protocolversion',
            name='follow_up_window_days',
            field=models.PositiveSmallIntegerField(default=14, help_text='A follow-up is due from this many days before its due date to this many days after it (never before the session day): the review\'s "Due now", and the earliest it can be recorded.'),
        ),
        migrations.AddField(
            model_name='treatmentsession',
            name='nsaid_decision_awaited',
            field=models.BooleanField(default=False),
        ),
        migrations.AddIndex(
            model_name='followup',
            index=models.Index(condition=models.Q(('status', 'planned')), fields=['due_from', 'due_until'], name='follow_up_planned_window_idx'),
        ),
        migrations.AddConstraint(
            model_name='changerequest',
            constraint=models.CheckConstraint(condition=models.Q(('handled_at__isnull', True), models.Q(('outcome', ''), _negated=True), _connector='OR'), name='change_request_handled_has_outcome'),
        ),
        migrations.AddConstraint(
            model_name='followup',
            constraint=models.CheckConstraint(condition=models.Q(('due_from__lte', models.F('due_date')), ('due_until__gte', models.F('due_date'))), name='follow_up_window_around_due_date'),
        ),
        migrations.AddConstraint(
            model_name='protocolversion',
            constraint=models.CheckConstraint(condition=models.Q(('follow_up_window_days__lte', 90)), name='protocol_follow_up_window_sane'),
        ),
        migrations.AddField(
            model_name='nsaiddecision',
            name='decided_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='nsaiddecision',
            name='session',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='nsaid_decisions', to='treatments.treatmentsession'),
        ),
        migrations.AddConstraint(
            model_name='nsaiddecision',
            constraint=models.CheckConstraint(condition=models.Q(('decision', ''), _negated=True), name='nsaid_decision_not_empty'),
        ),
        migrations.RunSQL(DECISIONS_SQL, migrations.RunSQL.noop),
    ]
