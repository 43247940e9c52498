"""Phone search across formats (issue 12, item 7): the number staff typed is kept as typed, an
E.164 copy is stored on save and searched by its end, through an index, at a fixed cost."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from patients.models import Patient
from patients.phones import search_digits, to_e164
from patients.selectors import search_patients
from patients.services import register_patient, update_reminder_preferences
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SHAPES = ["+49 170 555 0101", "0170 5550101", "5550101", "0049 170 5550101", "+49-170-555-0101"]


@pytest.fixture
def mia():
    return register_patient(
        first_name="Mia",
        last_name="Koch",
        date_of_birth="1990-03-04",
        email="mia@example.test",
        phone="0170 5550101",
    )


def test_the_number_is_kept_as_typed_with_an_e164_copy(mia):
    mia.refresh_from_db()
    assert mia.phone == "0170 5550101"
    assert mia.phone_e164 == "+491705550101"


@pytest.mark.parametrize("query", SHAPES)
def test_every_shape_finds_the_patient(mia, query):
    PatientFactory(first_name="Other", phone="+49 170 5550102")
    PatientFactory(first_name="Abroad", phone="+1 212 555 0199")
    assert [p.first_name for p in search_patients(query)] == ["Mia"]


def test_a_number_typed_with_its_country_code_is_found_by_the_local_shape():
    PatientFactory(first_name="Lena", phone="+49 (170) 555-0101")
    assert [p.first_name for p in search_patients("0170 5550101")] == ["Lena"]


def test_the_patients_country_reads_local_numbers(settings):
    settings.CLINIC_COUNTRY = "PT"  # a new patient's default country
    patient = PatientFactory(phone="912 345 678")
    assert patient.country == "PT"
    assert patient.phone_e164 == "+351912345678"
    assert list(search_patients("+351 912 345 678")) == [patient]


def test_the_copy_follows_every_change_of_the_phone(mia):
    update_reminder_preferences(
        patient=mia,
        reminders_by_email=True,
        reminders_by_sms=True,
        non_essential_opt_out=False,
        phone="+44 20 7946 0958",
    )
    mia.refresh_from_db()
    assert mia.phone_e164 == "+442079460958"
    assert list(search_patients("5550101")) == []
    assert list(search_patients("020 7946 0958")) == [mia]  # the end of the number matches
    assert list(search_patients("+49 20 7946 0958")) == []  # another country's number
    assert list(search_patients("7946 0958")) == [mia]
    mia.phone = ""
    mia.save(update_fields=["phone"])
    mia.refresh_from_db()
    assert mia.phone_e164 == ""


def test_what_cannot_be_a_number_stores_no_copy():
    assert to_e164("1") == ""
    assert to_e164("") == ""
    assert to_e164("not a number") == ""


def test_short_or_wordy_queries_are_not_phone_searches():
    assert search_digits("0101") is None  # too few digits to search by the end
    assert search_digits("Mia 0170") is None
    assert search_digits("000 000") is None
    assert search_digits("(0170) 555-0101") == "1705550101"


def test_name_search_is_unchanged(mia):
    assert list(search_patients("Koch")) == [mia]
    assert list(search_patients("170")) == [mia]  # digits anywhere in the number as typed


def test_the_suffix_search_is_served_by_its_index(mia):
    PatientFactory.create_batch(3)
    sql, params = search_patients("5550101").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "patient_phone_e164_suffix" in plan, plan


def test_the_list_searched_by_phone_costs_the_same_queries(staff_client, django_assert_num_queries):
    PatientFactory.create_batch(3, phone="0170 5550101")
    # The user with their roles, the Inbox unread count in the navigation, the list (the
    # session is read from the cache: cached_db)
    url = reverse("patient_list") + "?q=0170+5550101"
    with django_assert_num_queries(3):
        response = staff_client.get(url)
    assert response.status_code == 200
    PatientFactory.create_batch(10, phone="0170 5550101")
    with django_assert_num_queries(3):
        response = staff_client.get(url)
    assert response.content.count(b"<td>0170 5550101</td>") == 13


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_fills_existing_rows(reference_data):
    executor = MigrationExecutor(connection)
    executor.migrate([("patients", "0007_patient_phone_e164")])
    try:
        old = executor.loader.project_state([("patients", "0007_patient_phone_e164")]).apps
        OldPatient = old.get_model("patients", "Patient")
        before = OldPatient.objects.create(
            first_name="Old",
            last_name="Row",
            date_of_birth="1970-01-01",
            email="old@example.test",
            phone="0170 5550101",
        )
        assert OldPatient.objects.get(pk=before.pk).phone_e164 == ""
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Patient.objects.get(pk=before.pk).phone_e164 == "+491705550101"
