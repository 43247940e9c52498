"""Patient search pages from the indexes alone (patients.selectors.NameSearch): the prefix
pattern indexes of migration 0005, UPPER(col::text) text_pattern_ops, now also carry the
id, the names and the email, so that a page of a name search picks its ids by index-only
scans instead of reading every match's row from the table ("santos" at 1,000,000 patients:
50,000 rows). They replace the 0005 indexes, which serve nothing these do not."""

from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

COLUMNS = ("last_name", "first_name", "email")


class Migration(migrations.Migration):
    dependencies = [("patients", "0018_patient_history_triggers_after_merge")]

    operations = [
        PostgresOnlyRunSQL(
            sql=[
                *(
                    f"CREATE INDEX patient_{c}_search ON patients_patient "
                    f"(UPPER({c}::text) text_pattern_ops) "
                    "INCLUDE (id, last_name, first_name, email)"
                    for c in COLUMNS
                ),
                *(f"DROP INDEX patient_{c}_prefix" for c in COLUMNS),
            ],
            reverse_sql=[
                *(
                    f"CREATE INDEX patient_{c}_prefix ON patients_patient "
                    f"(UPPER({c}::text) text_pattern_ops)"
                    for c in COLUMNS
                ),
                *(f"DROP INDEX patient_{c}_search" for c in COLUMNS),
            ],
        ),
    ]
