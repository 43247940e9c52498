"""The intake is append-only in the database, not only in the model's save(): medication
lines and reconfirmations refuse UPDATE and DELETE; a version takes its review once and
nothing else. And two submissions at once give two ordered versions, every line kept."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from patients import intake
from patients.models import IntakeMedication, IntakeReconfirmation, IntakeVersion
from tests.factories import NOW, PatientFactory, UserFactory, clinician, pending_intake
from tests.test_concurrency import run_at_once

REFUSED = (IntegrityError, InternalError)


def refused_sql(sql, params):
    with pytest.raises(REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def refused(fn):
    with pytest.raises(REFUSED), transaction.atomic():
        fn()


@pytest.fixture
def version(frozen):
    patient = PatientFactory(intake=False)
    version = pending_intake(patient)
    IntakeMedication.objects.create(version=version, position=9, name="Ramipril", dose="5 mg")
    return version


@pytest.mark.django_db
def test_medication_lines_refuse_update_and_delete(version):
    line = version.medications.get(position=9)
    refused_sql("UPDATE patients_intakemedication SET dose = '10 mg' WHERE id = %s", [line.pk])
    refused_sql("DELETE FROM patients_intakemedication WHERE id = %s", [line.pk])
    line.dose = "10 mg"
    refused(line.save)
    refused(lambda: IntakeMedication.objects.filter(pk=line.pk).update(name="Other"))
    refused(lambda: IntakeMedication.objects.filter(pk=line.pk).delete())
    assert IntakeMedication.objects.get(pk=line.pk).as_tuple() == ("Ramipril", "5 mg", "")


@pytest.mark.django_db
def test_reconfirmations_refuse_update_and_delete(version):
    row = intake.reconfirm_intake(patient=version.patient, confirmed_by=UserFactory(), now=NOW)
    table = IntakeReconfirmation._meta.db_table
    refused_sql(f"UPDATE {table} SET confirmed_at = now() WHERE id = %s", [row.pk])  # noqa: S608
    refused_sql(f"DELETE FROM {table} WHERE id = %s", [row.pk])  # noqa: S608
    refused(lambda: IntakeReconfirmation.objects.filter(pk=row.pk).update(confirmed_at=NOW))
    refused(lambda: IntakeReconfirmation.objects.filter(pk=row.pk).delete())
    assert IntakeReconfirmation.objects.get(pk=row.pk).confirmed_at == NOW


@pytest.mark.django_db
def test_a_version_takes_its_review_once_and_nothing_else(version):
    table = IntakeVersion._meta.db_table
    refused_sql(f"UPDATE {table} SET goals = 'rewritten' WHERE id = %s", [version.pk])  # noqa: S608
    refused_sql(f"UPDATE {table} SET number = 7 WHERE id = %s", [version.pk])  # noqa: S608
    refused_sql(f"DELETE FROM {table} WHERE id = %s", [version.pk])  # noqa: S608
    refused(lambda: IntakeVersion.objects.filter(pk=version.pk).update(smoking="current"))
    # The review and another column in one statement: refused as a whole.
    doctor = clinician()
    refused(
        lambda: IntakeVersion.objects.filter(pk=version.pk).update(
            reviewed_by=doctor, reviewed_at=NOW, goals="and this"
        )
    )
    # The review alone goes through (the service's own write) ...
    intake.review_intake(version=version, reviewed_by=doctor, now=NOW)
    version.refresh_from_db()
    assert (version.reviewed_by, version.reviewed_at) == (doctor, NOW)
    # ... once: a reviewed version is not re-reviewed or un-reviewed behind the service.
    refused(
        lambda: IntakeVersion.objects.filter(pk=version.pk).update(
            reviewed_by=None, reviewed_at=None
        )
    )
    refused_sql(
        f"UPDATE {table} SET reviewed_at = now() WHERE id = %s",  # noqa: S608
        [version.pk],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
@pytest.mark.parametrize("attempt", range(2))
def test_two_submissions_at_once_give_two_ordered_versions(attempt):
    patient = PatientFactory(intake=False)
    author = UserFactory()
    lines = {
        0: [("Ramipril", "5 mg", "2019"), ("Vitamin D", "1000 IU", "")],
        1: [("Ibuprofen", "400 mg", "May"), ("Zinc", "", ""), ("Iron", "", "")],
    }

    def submit(i):
        intake.submit_intake(
            patient=patient,
            submitted_by=author,
            answers={"smoking": "never", "alcohol": "none", "goals": f"thread {i}"},
            medications=lines[i],
            now=NOW,
        )

    assert run_at_once(2, submit) == ["booked", "booked"]
    versions = list(IntakeVersion.objects.filter(patient=patient).order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    for v in versions:
        i = int(v.goals.split()[-1])
        assert [m.as_tuple() for m in v.medications.order_by("position")] == lines[i]
