"""The done-when test of the waitlist (issue 15 item 5): a session with three waitlisted
patients, one of whom the gap rules out, is cancelled; the right one is offered the time
first; acceptances at the same instant give the time to exactly one. Threads on a
transactional database, as tests/test_slot_race.py."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from tests.factories import NOW, PatientFactory, at
from tests.test_concurrency import run_at_once
from tests.test_waitlist import FRIDAY, Clinic
from treatments import services, waitlist
from treatments.models import OfferStatus, TreatmentSession, WaitlistOffer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]


@pytest.fixture
def three():
    with time_machine.travel(NOW, tick=False):
        clinic = Clinic()
        clinic.anna = clinic.wait(
            "Anna", joined=NOW - timedelta(hours=3), last_session=date(2026, 10, 1)
        )
        clinic.ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2))
        clinic.cem = clinic.wait("Cem", joined=NOW - timedelta(hours=1))
        clinic.cancel()  # commits: the time is offered after the commit, as in production
        yield clinic


def sessions_at_the_freed_time():
    return list(TreatmentSession.objects.filter(starts_at=at(FRIDAY, 9), status="scheduled"))


def test_the_right_patient_first_then_two_acceptances_at_once_book_once(three):
    [offer] = WaitlistOffer.objects.filter(status=OfferStatus.OFFERED)
    assert offer.patient == three.ben  # not Anna (the gap), not Cem (joined later)
    # Ben's offer runs out; beat offers the time to Cem.
    late = offer.expires_at + timedelta(minutes=1)
    assert waitlist.advance(now=late) == {"expired": 1, "offered": 1}
    [second] = WaitlistOffer.objects.filter(status=OfferStatus.OFFERED)
    assert second.patient == three.cem
    # Ben (expired) and Cem accept at the same instant, each from the portal.
    answer = late + timedelta(hours=1)
    tries = [(three.ben, offer), (three.cem, second)]
    results = [None, None]

    def accept(i):
        patient, which = tries[i]
        results[i] = waitlist.accept_offer(patient=patient, offer=which, now=answer)

    outcomes = run_at_once(2, accept)
    assert outcomes == ["offer_ended", "booked"], outcomes
    [session] = sessions_at_the_freed_time()
    assert session.patient == three.cem
    assert not TreatmentSession.objects.filter(patient=three.ben).exists()


def test_one_offer_accepted_twice_at_once_books_one_session(three):
    [offer] = WaitlistOffer.objects.filter(status=OfferStatus.OFFERED)
    results = [None] * 4

    def accept(i):
        results[i] = waitlist.accept_offer(
            patient=three.ben, offer=offer, now=NOW + timedelta(minutes=10)
        )

    outcomes = run_at_once(4, accept)
    assert outcomes == ["booked"] * 4, outcomes
    [session] = sessions_at_the_freed_time()
    assert session.patient == three.ben
    assert {r.pk for r in results} == {session.pk}  # every click sees the one session


def test_two_portal_clicks_at_once_book_once(three):
    """The same through the portal page: two POSTs of "Book this time" at once."""
    [offer] = WaitlistOffer.objects.filter(status=OfferStatus.OFFERED)
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(three.ben.user)
        clients.append(client)
    statuses = [None, None]

    def click(i):
        statuses[i] = (
            clients[i]
            .post(f"/portal/waitlist/offers/{offer.pk}/", {"answer": "accept"})
            .status_code
        )
        connection.close()

    outcomes = run_at_once(2, click)
    assert outcomes == ["booked", "booked"]
    assert statuses == [302, 302]
    assert [s.patient for s in sessions_at_the_freed_time()] == [three.ben]


def test_the_front_desk_booking_the_time_while_the_offer_is_accepted(three):
    """Staff book the freed time for a walk-in at the moment Ben accepts: one wins."""
    [offer] = WaitlistOffer.objects.filter(status=OfferStatus.OFFERED)
    walk_in = PatientFactory()
    later = NOW + timedelta(minutes=10)

    def go(i):
        if i == 0:
            waitlist.accept_offer(patient=three.ben, offer=offer, now=later)
        else:
            services.book_session(
                patient=walk_in,
                starts_at=at(FRIDAY, 9),
                ends_at=at(FRIDAY, 10),
                clinician=three.doctor,
                room=three.room,
                booked_by=three.doctor,
                now=later,
            )

    outcomes = run_at_once(2, go)
    assert sorted(outcomes) in (["booked", "slot_gone"], ["booked", "slot_taken"]), outcomes
    assert len(sessions_at_the_freed_time()) == 1
    offer.refresh_from_db()
    if outcomes[0] == "booked":
        assert offer.status == OfferStatus.ACCEPTED
    else:
        assert offer.status == OfferStatus.GONE
