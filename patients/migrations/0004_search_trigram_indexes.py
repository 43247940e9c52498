"""Patient search (`icontains`, i.e. UPPER(col) LIKE '%...%') through trigram GIN indexes on
PostgreSQL, so searching 100,000 patients reads an index, not the table."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

COLUMNS = ("first_name", "last_name", "email", "phone")


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_scale_indexes")]

    operations = [
        TrigramExtension(),
        PostgresOnlyRunSQL(
            sql=[
                f"CREATE INDEX patient_{c}_trgm ON patients_patient "
                f"USING gin (UPPER({c}::text) gin_trgm_ops)"
                for c in COLUMNS
            ],
            reverse_sql=[f"DROP INDEX patient_{c}_trgm" for c in COLUMNS],
        ),
    ]
