"""Models that changed app keep their tables and every row: an existing database migrates in
place (state-only moves, tables keep their names)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import PatientFactory, book
from treatments.models import ChangeRequest, SideEffectReport

# The last migrations before each move: unapplying to them puts the models back in their old
# app without touching a table.
BEFORE_THE_MOVES = [
    ("treatments", "0010_follow_up_findings_shared"),
    ("portal", "0002_one_open_request_per_session"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


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
