"""patients.selectors.search_patients: the start of names or email, phone digits anywhere."""

import pytest

from patients.selectors import search_patients
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "ana": PatientFactory(
            first_name="Ana",
            last_name="Santos",
            email="ana.s@example.com",
            phone="+351 912 345 678",
        ),
        "joao": PatientFactory(first_name="João", last_name="Santos", email="js@example.com"),
        "sandra": PatientFactory(first_name="Sandra", last_name="Becker", email="sb@example.com"),
        "carlos": PatientFactory(first_name="Carlos", last_name="Dossantos", email="c@example.com"),
    }


def names(query):
    return [p.first_name for p in search_patients(query)]


def test_start_of_a_name_any_case(people):
    assert names("santos") == ["Ana", "João"]  # not "Dossantos": starts of names only
    assert names("SAN") == ["Sandra", "Ana", "João"]  # by last name: Becker, Santos


def test_every_word_must_match(people):
    assert names("ana santos") == ["Ana"]
    assert names("santos becker") == []


def test_email_start_and_phone_digits(people):
    assert names("js@") == ["João"]
    assert names("912") == ["Ana"]


def test_no_query_lists_everyone_by_name(people):
    assert [p.last_name for p in search_patients("")] == ["Becker", "Dossantos", "Santos", "Santos"]
