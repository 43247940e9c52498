"""Database helpers for the rules PostgreSQL holds and SQLite cannot express."""

import contextlib

from django.db import migrations

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
