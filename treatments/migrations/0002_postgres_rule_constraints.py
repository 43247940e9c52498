"""
The protocol rules as PostgreSQL constraints: the last word, whatever code path writes.

- Two live sessions of one patient never closer than the gap: each live session blocks the
  days [local_date, gap_until); blocked ranges of one patient may not overlap.
- A clinician and a room are never double-booked by live sessions.
- gap_until is exactly local_date + gap_months (PostgreSQL clamps month ends the way
  treatments.rules.add_months does), so a raw write cannot shrink the blocked range.
- local_date is within a day of the UTC date of starts_at (no time zone is further away).
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

LIVE = "status IN ('scheduled', 'confirmed', 'completed')"
TABLE = "treatments_treatmentsession"


class Migration(migrations.Migration):
    dependencies = [("treatments", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        PostgresOnlyRunSQL(
            sql=[
                f"""ALTER TABLE {TABLE} ADD CONSTRAINT session_patient_gap_excl
                    EXCLUDE USING gist (
                        patient_id WITH =,
                        daterange(local_date, gap_until, '[)') WITH &&
                    ) WHERE ({LIVE})""",
                f"""ALTER TABLE {TABLE} ADD CONSTRAINT session_clinician_no_overlap
                    EXCLUDE USING gist (
                        clinician_id WITH =,
                        tstzrange(starts_at, ends_at, '[)') WITH &&
                    ) WHERE ({LIVE})""",
                f"""ALTER TABLE {TABLE} ADD CONSTRAINT session_room_no_overlap
                    EXCLUDE USING gist (
                        room_id WITH =,
                        tstzrange(starts_at, ends_at, '[)') WITH &&
                    ) WHERE ({LIVE})""",
                f"""ALTER TABLE {TABLE} ADD CONSTRAINT session_gap_until_by_protocol
                    CHECK (gap_until = (local_date + make_interval(months => gap_months))::date)""",
                f"""ALTER TABLE {TABLE} ADD CONSTRAINT session_local_date_near_start
                    CHECK (local_date BETWEEN (starts_at AT TIME ZONE 'UTC')::date - 1
                                          AND (starts_at AT TIME ZONE 'UTC')::date + 1)""",
            ],
            reverse_sql=[
                f"ALTER TABLE {TABLE} DROP CONSTRAINT session_local_date_near_start",
                f"ALTER TABLE {TABLE} DROP CONSTRAINT session_gap_until_by_protocol",
                f"ALTER TABLE {TABLE} DROP CONSTRAINT session_room_no_overlap",
                f"ALTER TABLE {TABLE} DROP CONSTRAINT session_clinician_no_overlap",
                f"ALTER TABLE {TABLE} DROP CONSTRAINT session_patient_gap_excl",
            ],
        ),
    ]
