"""Statistics for the reminders table's new waitlist_offer column (0006). Without them the
planner guesses that thousands of reminders belong to any one offer and reads the whole table
for a patient's reminders (a sequential scan of 2.3 million rows at 100,000 patients, found
by `make bench`); autovacuum would not analyze the table until a tenth of it changed. ANALYZE
samples the table: seconds even at 22 million rows. PostgreSQL only."""

from django.db import migrations

from treatments.db import PostgresOnlyRunSQL


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0006_waitlist_offer_notices"),
    ]

    operations = [
        PostgresOnlyRunSQL("ANALYZE treatments_reminder", reverse_sql=migrations.RunSQL.noop),
    ]
