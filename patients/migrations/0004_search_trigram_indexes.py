"""Phone search (digits anywhere in the number) through a trigram GIN index on PostgreSQL.
Names and email are searched by their start: see 0005."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from treatments.db import PostgresOnlyRunSQL


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_scale_indexes")]

    operations = [
        TrigramExtension(),
        PostgresOnlyRunSQL(
            sql="CREATE INDEX patient_phone_trgm ON patients_patient "
            "USING gin (UPPER(phone::text) gin_trgm_ops)",
            reverse_sql="DROP INDEX patient_phone_trgm",
        ),
    ]
