"""The last free slot, taken by twenty patients at once: one wins, nineteen are refused."""

from datetime import date, time

import pytest

from sites.models import OpeningHours, Site, WorkingHours
from tests.factories import NOW, PatientFactory, RoomFactory, clinician
from tests.test_concurrency import THREADS, book_at, run_at_once
from treatments.models import TreatmentSession
from treatments.slots import free_slots

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]


def test_twenty_patients_on_the_last_slot():
    site = Site.objects.create(name="Small site", time_zone="Europe/Berlin")
    day = date(2027, 3, 10)
    OpeningHours.objects.create(site=site, weekday=day.weekday(), opens=time(9), closes=time(10))
    doctor = clinician()
    WorkingHours.objects.create(
        site=site, clinician=doctor, weekday=day.weekday(), opens=time(9), closes=time(10)
    )
    room = RoomFactory(site=site)
    patients = [PatientFactory() for _ in range(THREADS)]
    slots = [
        free_slots(patient=p, site=site, start_day=day, end_day=day, now=NOW) for p in patients
    ]
    assert all(len(found) == 1 for found in slots)  # the one slot, offered to each
    last = slots[0][0]

    outcomes = run_at_once(
        THREADS, lambda i: book_at(patients[i], last.starts_at, last.clinician, last.room)
    )
    assert outcomes.count("booked") == 1, outcomes
    assert outcomes.count("slot_taken") == THREADS - 1, outcomes
    assert TreatmentSession.objects.filter(room=room).count() == 1
    # The others now see no slot left.
    loser = patients[outcomes.index("slot_taken")]
    assert free_slots(patient=loser, site=site, start_day=day, end_day=day, now=NOW) == []
