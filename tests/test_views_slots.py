"""The booking page's list of next free slots, and the override of availability."""

from datetime import date, time

import pytest
from django.urls import reverse

from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.factories import PatientFactory, RoomFactory, book, clinician
from tests.test_views_booking import form_data
from treatments.models import TreatmentSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def berlin():
    """The default site (rooms without a site are there), open 09–17 every day."""
    site = Site.objects.get(pk=default_site_id())
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(17))
    return site


@pytest.fixture
def doctor(berlin):
    user = clinician(first_name="Anna", last_name="Meyer")
    for weekday in range(7):
        WorkingHours.objects.create(
            site=berlin, clinician=user, weekday=weekday, opens=time(9), closes=time(17)
        )
    return user


@pytest.fixture
def room(berlin):
    return RoomFactory(site=berlin, name="Treatment room B")


def test_the_page_lists_the_next_free_slots(staff_client, doctor, room):
    patient = PatientFactory()
    page = staff_client.get(reverse("session_book", args=[patient.pk])).content.decode()
    # Now is Monday 4 January 2027, 09:00: the NSAID pause rules out the next three days.
    assert "First possible:" in page
    assert "Fri 8 Jan 2027, 09:00 Berlin time, Anna Meyer, Treatment room B" in page
    assert 'name="site"' not in page  # one site: no site to choose


def test_a_slot_fills_the_form(staff_client, doctor, room):
    patient = PatientFactory()
    url = reverse("session_book", args=[patient.pk])
    page = staff_client.get(
        url, {"day": "2027-01-08", "time": "09:00", "clinician": doctor.pk, "room": room.pk}
    ).content.decode()
    assert 'value="2027-01-08"' in page and 'value="09:00' in page
    assert f'<option value="{doctor.pk}" selected>' in page


def test_nonsense_in_the_query_is_ignored(staff_client, doctor, room):
    url = reverse("session_book", args=[PatientFactory().pk])
    for query in ({"site": "x"}, {"day": "2027-02-30", "time": "25:00"}, {"clinician": "-1"}):
        response = staff_client.get(url, query)
        assert response.status_code == 200


def test_two_sites_offer_a_choice_and_name_each_clock(staff_client, doctor, room):
    istanbul = Site.objects.create(name="Istanbul Nişantaşı", time_zone="Europe/Istanbul")
    RoomFactory(site=istanbul, name="Oda 1")
    url = reverse("session_book", args=[PatientFactory().pk])
    page = staff_client.get(url, {"site": istanbul.pk}).content.decode()
    assert 'name="site"' in page
    # No opening hours at Istanbul: searched 08–18 on its own clock.
    assert "Fri 8 Jan 2027, 08:00 Istanbul time" in page


def test_booking_outside_hours_is_refused_next_to_the_time(staff_client, doctor, room):
    patient = PatientFactory()
    url = reverse("session_book", args=[patient.pk])
    response = staff_client.post(url, form_data(doctor, room, time="18:00"))
    assert response.status_code == 200
    assert "closed at that time" in response.content.decode()
    assert "time" in response.context["form"].errors
    assert not TreatmentSession.objects.filter(patient=patient).exists()


def test_an_override_needs_a_reason_and_is_recorded(staff_client, doctor, room):
    patient = PatientFactory()
    url = reverse("session_book", args=[patient.pk])
    data = form_data(doctor, room, time="18:00", override_availability="on")
    response = staff_client.post(url, data)
    assert "override_reason" in response.context["form"].errors
    response = staff_client.post(url, {**data, "override_reason": "Only evening possible"})
    session = TreatmentSession.objects.get(patient=patient)
    assert response.status_code == 302
    assert session.availability_override_reason == "Only evening possible"
    assert session.availability_override_by.username == response.wsgi_request.user.username


def test_the_page_queries_stay_constant(staff_client, doctor, room, django_assert_max_num_queries):
    patient = PatientFactory()
    url = reverse("session_book", args=[patient.pk])
    for n in range(10):
        book(day=date(2027, 1, 11 + n), hour=9, clinician_user=doctor, room=room)
    with django_assert_max_num_queries(7):
        assert staff_client.get(url).status_code == 200


def _move(client, session, **data):
    url = reverse("session_reschedule", args=[session.pk])
    fields = {
        "day": "2027-03-10",
        "time": "10:00",
        "duration": "60",
        "clinician": session.clinician_id,
        "room": session.room_id,
    }
    return client.post(url, {**fields, **data})


def test_moving_outside_hours_is_refused_and_the_override_shown(staff_client, doctor, room):
    session = book(day=date(2027, 3, 10), hour=10, clinician_user=doctor, room=room)
    page = staff_client.get(reverse("session_reschedule", args=[session.pk])).content.decode()
    assert 'name="override_availability"' in page and 'name="override_reason"' in page
    response = _move(staff_client, session, time="18:00")
    assert response.status_code == 200
    assert "closed at that time" in response.content.decode()
    assert "time" in response.context["form"].errors
    session.refresh_from_db()
    assert session.starts_at.hour == 9  # 10:00 Berlin, unchanged (UTC)


@pytest.mark.parametrize(
    "absent, field",
    [("outside_hours", "time"), ("clinician_absent", "clinician"), ("room_out_of_service", "room")],
)
def test_a_move_override_needs_a_reason_and_records_its_author(
    staff_client, doctor, room, absent, field
):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from sites.models import ClinicianAbsence
    from treatments.models import RoomOutOfService

    session = book(day=date(2027, 3, 10), hour=10, clinician_user=doctor, room=room)
    when = {"day": "2027-03-11", "time": "18:00" if absent == "outside_hours" else "11:00"}
    eleven = datetime(2027, 3, 11, 11, tzinfo=ZoneInfo("Europe/Berlin"))
    if absent == "clinician_absent":
        ClinicianAbsence.objects.create(
            clinician=doctor, starts_at=eleven, ends_at=eleven + timedelta(hours=2)
        )
    if absent == "room_out_of_service":
        RoomOutOfService.objects.create(
            room=room, starts_at=eleven, ends_at=eleven + timedelta(hours=2)
        )
    refused = _move(staff_client, session, **when)
    assert field in refused.context["form"].errors
    assert refused.context["form"].errors[field][0]
    no_reason = _move(staff_client, session, override_availability="on", **when)
    assert "override_reason" in no_reason.context["form"].errors
    # A reason without the tick overrides nothing.
    unticked = _move(staff_client, session, override_reason="Only then", **when)
    assert field in unticked.context["form"].errors
    moved = _move(
        staff_client, session, override_availability="on", override_reason=" Only then ", **when
    )
    assert moved.status_code == 302
    session.refresh_from_db()
    assert session.local_date == date(2027, 3, 11)
    assert session.availability_override_reason == "Only then"
    assert session.availability_override_by.username == moved.wsgi_request.user.username
    assert session.rescheduled_by == session.availability_override_by
