"""Models that changed app keep their tables and every row: an existing database migrates in
place (state-only moves, tables keep their names)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reminders.models import DeliveryAttempt, Reminder
from tests.factories import PatientFactory, book
from treatments.models import ChangeRequest, SideEffectReport

# The last migrations before each move: unapplying to them puts the models back in their old
# app without touching a table.
BEFORE_THE_MOVES = [
    ("treatments", "0010_follow_up_findings_shared"),
    ("portal", "0002_one_open_request_per_session"),
    ("reminders", None),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_move_from_portal_to_treatments(reference_data):
    patient = PatientFactory()
    session = book(patient)
    report = SideEffectReport.objects.create(patient=patient, description="itchy scalp")
    ChangeRequest.objects.create(patient=patient, session=session, kind="cancel")
    try:
        old = migrate(BEFORE_THE_MOVES)
        OldReport = old.get_model("portal", "SideEffectReport")
        OldRequest = old.get_model("portal", "ChangeRequest")
        assert OldReport.objects.get().description == "itchy scalp"
        assert OldRequest.objects.get().kind == "cancel"
        # A row written by the old code, just before the upgrade.
        OldReport.objects.create(patient_id=patient.pk, description="written before the move")
    finally:
        migrate(latest())
    assert sorted(SideEffectReport.objects.values_list("description", flat=True)) == [
        "itchy scalp",
        "written before the move",
    ]
    assert SideEffectReport.objects.get(pk=report.pk).patient == patient
    assert ChangeRequest.objects.get().session == session


@pytest.mark.django_db(transaction=True)
def test_reminders_survive_the_move_from_treatments_to_their_own_app(reference_data):
    session = book()
    planned = dict(Reminder.objects.filter(session=session).values_list("pk", "kind"))
    assert planned  # the booking planned its outbox rows
    first = min(planned)
    try:
        old = migrate(BEFORE_THE_MOVES)
        OldReminder = old.get_model("treatments", "Reminder")
        assert dict(OldReminder.objects.values_list("pk", "kind")) == planned
        # The old code logs a delivery attempt just before the upgrade.
        old.get_model("treatments", "DeliveryAttempt").objects.create(
            reminder_id=first, succeeded=True, worker="old-worker"
        )
    finally:
        migrate(latest())
    assert dict(Reminder.objects.values_list("pk", "kind")) == planned
    assert DeliveryAttempt.objects.get().reminder_id == first
    # New rows keep using the same table and sequence.
    assert Reminder.objects.create(
        session=session,
        kind="cancellation",
        channel="email",
        occasion=9,
        due_at=session.starts_at,
        expires_at=session.starts_at,
        not_before=session.starts_at,
    ).pk > max(planned)
