"""Registrations and merges at the same instant (issue 12, item 6): the duplicate warning and
the six-month rule hold under races. Transactional, one connection per thread."""

from datetime import date

import pytest

from accounts import roles
from patients.models import Patient
from patients.services import register_patient
from tests.factories import PatientFactory, RoomFactory, UserFactory, at, clinician
from tests.test_concurrency import book_at, run_at_once
from treatments.merges import merge_patients

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]


def test_the_same_person_registered_at_two_desks_at_once_is_registered_once():
    outcomes = run_at_once(
        8,
        lambda i: register_patient(
            first_name="Ida",
            last_name="Brandt",
            date_of_birth=date(1975, 6, 1),
            email=f"ida{i}@example.test",
        ),
    )
    assert sorted(outcomes) == ["booked"] + ["possible_duplicate"] * 7
    assert Patient.objects.filter(last_name="Brandt").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_a_merge_and_a_clashing_booking_at_once_one_wins(attempt):
    admin = UserFactory(role=roles.CLINIC_ADMIN)
    kept, dup = PatientFactory(), PatientFactory()
    doctor, room = clinician(), RoomFactory()
    book_at(dup, at(date(2027, 3, 10)), doctor, room)

    def act(i):
        if i == 0:
            merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        else:
            book_at(kept, at(date(2027, 5, 3)), clinician(), RoomFactory())

    outcomes = run_at_once(2, act)
    assert sorted(outcomes) in (["booked", "session_gap"], ["booked", "merge_gap_clash"])
    # Whichever won, the kept record's live sessions keep the gap.
    days = sorted(kept.sessions.values_list("local_date", flat=True))
    assert days in ([date(2027, 3, 10)], [date(2027, 5, 3)])
