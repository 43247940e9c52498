"""Database helpers for the rules PostgreSQL holds and SQLite cannot express."""

import contextlib

from django.contrib.postgres.fields import DateTimeRangeField
from django.contrib.postgres.lookups import Overlap
from django.db import connection, migrations
from django.db.models import BigIntegerField, Func, Q, Value
from django.db.models.functions import Cast

# Names of the PostgreSQL-only constraints (migration 0002), mapped to the error code the
# service raises for them, so that a race the service check missed reads the same.
GAP_CONSTRAINT = "session_patient_gap_excl"
CLINICIAN_SLOT_CONSTRAINT = "session_clinician_no_overlap"
ROOM_SLOT_CONSTRAINT = "session_room_no_overlap"
# Django's name for the unique constraint of TreatmentSession.booking_key.
BOOKING_KEY_CONSTRAINT = "treatments_treatmentsession_booking_key_key"


class PostgresOnlyRunSQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases (SQLite has no exclusion constraints)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def constraint_name(exc: Exception) -> str:
    """The name of the constraint an IntegrityError broke, on PostgreSQL or SQLite."""
    diag = getattr(getattr(exc, "__cause__", None), "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return name
    text = str(exc)
    # SQLite: "CHECK constraint failed: session_ends_after_start"
    return text.rsplit(":", 1)[-1].strip() if "constraint failed" in text else ""


def history_context(**metadata):
    """pghistory's context (who made the changes within it) on PostgreSQL, where the history
    triggers are; elsewhere (the embedded SQLite) nothing, as there is no history to label.
    pghistory prefixes each writing statement with PostgreSQL's set_config()."""
    import pghistory
    from django.db import connection

    if connection.vendor == "postgresql":
        return pghistory.context(**metadata)
    return contextlib.nullcontext()


def overlapping(sessions, starts_at, ends_at):
    """The sessions of `sessions` (a queryset) that overlap [starts_at, ends_at).

    On PostgreSQL written as the clinician's and the room's exclusion constraints write it,
    `tstzrange(starts_at, ends_at, '[)') && …`, so that their GiST indexes find a
    clinician's (or, with in_room, a room's) clash among the few sessions near that time.
    The same test written as two comparisons (starts_at < end, ends_at > start) is answered
    on the (clinician, starts_at) index by reading every earlier session of the clinician,
    a heap row each (11,000 at 1,000,000 patients). Elsewhere the two comparisons."""
    if connection.vendor != "postgresql":
        return sessions.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)

    def span(starts, ends):
        return Func(
            starts, ends, Value("[)"), function="tstzrange", output_field=DateTimeRangeField()
        )

    return sessions.filter(
        Overlap(span("starts_at", "ends_at"), span(Value(starts_at), Value(ends_at)))
    )


def in_room(room_id) -> Q:
    """Sessions in the room, the id compared as the column's bigint: an integer parameter
    compares bigint with integer, which the GiST index of session_room_no_overlap
    (btree_gist) cannot answer, and PostgreSQL then reads the room's every session."""
    return Q(room_id=Cast(Value(room_id), output_field=BigIntegerField()))
