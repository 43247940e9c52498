"""Two patients pick the last free slot in the portal at once: one gets it, the other is told
it is gone and sees the next free times."""

from datetime import date, time

import pytest
import time_machine
from django.db import connection
from django.test import Client

from accounts import roles
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.factories import NOW, PatientFactory, RoomFactory, UserFactory, at, clinician
from tests.test_concurrency import run_at_once
from treatments.models import TreatmentSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.usefixtures("at_now")
def test_two_patients_on_the_last_slot():
    site = Site.objects.get(pk=default_site_id())
    doctor = clinician()
    for day in (date(2027, 1, 8), date(2027, 1, 9)):
        OpeningHours.objects.create(
            site=site, weekday=day.weekday(), opens=time(9), closes=time(10)
        )
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=day.weekday(), opens=time(9), closes=time(10)
        )
    RoomFactory(site=site)
    clients, patients = [], []
    for i in range(2):
        patient = PatientFactory()
        patient.user = UserFactory(username=f"p{i}@example.com", role=roles.PATIENT)
        patient.save()
        client = Client()
        client.force_login(patient.user)
        clients.append(client)
        patients.append(patient)
    last = at(date(2027, 1, 8), 9)
    responses = [None, None]

    def take(i):
        responses[i] = clients[i].post(
            "/portal/book/",
            {"site": site.pk, "starts_at": last.isoformat(), "week": 0},
            follow=True,
        )
        connection.close()

    outcomes = run_at_once(2, take)
    assert outcomes == ["booked", "booked"], outcomes  # both requests answered, no error
    assert TreatmentSession.objects.filter(starts_at=last).count() == 1
    winner = TreatmentSession.objects.get(starts_at=last).patient
    loser = 1 - [p.pk for p in patients].index(winner.pk)
    won = responses[1 - loser].content.decode()
    lost = responses[loser].content.decode()
    assert "Your session is booked for Friday 8 January 2027 at 09:00 Berlin time." in won
    assert "this time is no longer free" in lost
    assert "Saturday 9 January" in lost and "Friday 8 January" not in lost  # the next slots
    assert not TreatmentSession.objects.filter(patient=patients[loser]).exists()
