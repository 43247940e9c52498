"""Patient search matches the start of names and email (prefix LIKE on btree pattern
indexes, any database), and digits anywhere in the phone (trigram, PostgreSQL). The infix
trigram indexes on names and email go: at 100,000 patients the planner preferred scanning
the table to them for common names."""

from django.db import migrations

from treatments.db import PostgresOnlyRunSQL


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_search_trigram_indexes")]

    operations = [
        PostgresOnlyRunSQL(
            # The expression Django's istartswith compares: UPPER(col::text) LIKE 'ABC%'.
            sql=[
                f"CREATE INDEX patient_{c}_prefix ON patients_patient "
                f"(UPPER({c}::text) text_pattern_ops)"
                for c in ("last_name", "first_name", "email")
            ],
            reverse_sql=[f"DROP INDEX patient_{c}_prefix" for c in ("last_name", "first_name", "email")],
        ),
        PostgresOnlyRunSQL(
            sql=[f"DROP INDEX patient_{c}_trgm" for c in ("first_name", "last_name", "email")],
            reverse_sql=[
                f"CREATE INDEX patient_{c}_trgm ON patients_patient "
                f"USING gin (UPPER({c}::text) gin_trgm_ops)"
                for c in ("first_name", "last_name", "email")
            ],
        ),
    ]
