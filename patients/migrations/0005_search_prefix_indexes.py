"""Patient search matches the start of names and email: Django's istartswith compares
UPPER(col::text) LIKE 'ABC%', which these PostgreSQL pattern indexes serve. (Infix trigram
indexes on names were tried first; at 100,000 patients the planner walked the whole list in
name order instead, 164 ms against 9 ms for these.)"""

from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

COLUMNS = ("last_name", "first_name", "email")


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_search_trigram_indexes")]

    operations = [
        PostgresOnlyRunSQL(
            sql=[
                f"CREATE INDEX patient_{c}_prefix ON patients_patient "
                f"(UPPER({c}::text) text_pattern_ops)"
                for c in COLUMNS
            ],
            reverse_sql=[f"DROP INDEX patient_{c}_prefix" for c in COLUMNS],
        ),
    ]
