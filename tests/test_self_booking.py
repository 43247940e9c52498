"""Patients book, move and cancel their own sessions in the portal (treatments.self_service)."""

from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.factories import NOW, PatientFactory, RoomFactory, at, book, clinician
from tests.test_portal import portal_client
from treatments import self_service
from treatments.models import BookingRequest, SessionStatus, TreatmentSession

pytestmark = pytest.mark.django_db

URL = "/portal/book/"


@pytest.fixture
def berlin():
    site = Site.objects.get(pk=default_site_id())
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(11))
    return site


@pytest.fixture
def doctor(berlin):
    user = clinician(first_name="Anna", last_name="Meyer")
    for weekday in range(7):
        WorkingHours.objects.create(
            site=berlin, clinician=user, weekday=weekday, opens=time(9), closes=time(11)
        )
    return user


@pytest.fixture
def room(berlin):
    return RoomFactory(site=berlin, name="Room 2")


@pytest.fixture
def patient(frozen):
    return PatientFactory(first_name="Maria")


def pick(client, start, **extra):
    data = {"site": default_site_id(), "starts_at": start.isoformat(), "week": 0, **extra}
    return client.post(URL, data)


def test_the_page_lists_only_what_the_rules_allow(patient, doctor, room):
    html = portal_client(patient).get(URL).content.decode()
    # Monday 4 January 2027, 09:00: the NSAID pause rules out the next three days.
    assert "Friday 8 January" in html and "Thursday 7 January" not in html
    assert "Monday 4 January" not in html
    assert 'name="site" id="id_site"' not in html  # one site: no choice
    assert html.count('class="slot"') == 2 * 3  # this week: Fri to Sun, 09:00 and 10:00


def test_a_picked_slot_is_booked_by_the_patient(patient, doctor, room):
    client = portal_client(patient)
    response = pick(client, at(date(2027, 1, 8), 9))
    assert response.status_code == 302
    session = TreatmentSession.objects.get(patient=patient)
    assert session.booked_by == patient.user
    assert session.clinician == doctor and session.room == room
    assert session.starts_at == at(date(2027, 1, 8), 9)
    home = client.get(reverse("portal_home")).content.decode()
    assert "Your session is booked for Friday 8 January 2027 at 09:00 Berlin time." in home
    assert 'id="move-link"' in home and 'id="cancel-link"' in home


def test_a_time_the_rules_refuse_is_never_booked(patient, doctor, room):
    client = portal_client(patient)
    for start in (at(date(2027, 1, 5), 9), at(date(2027, 1, 8), 12), at(date(2027, 1, 8), 9, 30)):
        response = pick(client, start)
        assert response.status_code == 200
        assert "no longer free" in response.content.decode()
    assert not TreatmentSession.objects.exists()


def test_the_gap_hides_the_next_six_months(patient, doctor, room):
    book(patient, date(2026, 12, 1), clinician_user=doctor, room=room, now=at(date(2026, 11, 1)))
    html = portal_client(patient).get(URL).content.decode()
    assert 'id="no-slots"' in html


def test_nonsense_input_is_no_error(patient, doctor, room):
    client = portal_client(patient)
    for query in ({"week": "x"}, {"week": "-1"}, {"week": "999"}, {"site": "abc"}, {"move": "9"}):
        assert client.get(URL, query).status_code == 200
    for data in ({}, {"starts_at": "nonsense"}, {"site": "1", "starts_at": "2027-13-01"}):
        assert client.post(URL, data).status_code == 200
    assert not TreatmentSession.objects.exists()


def test_weeks_page_on(patient, doctor, room):
    html = portal_client(patient).get(URL, {"week": 1}).content.decode()
    assert "11 Jan to 17 Jan 2027" in html and "Friday 8 January" not in html


def test_another_patients_session_is_not_moved(patient, doctor, room):
    other = PatientFactory()
    theirs = book(other, date(2027, 2, 1), clinician_user=doctor, room=room)
    client = portal_client(patient)
    response = pick(client, at(date(2027, 1, 8), 9), move=theirs.pk)
    assert response.status_code == 200
    theirs.refresh_from_db()
    assert theirs.starts_at == at(date(2027, 2, 1))
    assert client.get(reverse("portal_cancel", args=[theirs.pk])).status_code == 404


def test_move_and_cancel_before_the_notice(patient, doctor, room):
    session = book(patient, date(2027, 2, 1), 9, clinician_user=doctor, room=room)
    client = portal_client(patient)
    html = client.get(URL, {"move": session.pk}).content.decode()
    assert "Move your session" in html and "Friday 8 January" in html  # its own gap ignored
    assert pick(client, at(date(2027, 1, 8), 10), move=session.pk).status_code == 302
    session.refresh_from_db()
    assert session.starts_at == at(date(2027, 1, 8), 10)
    assert session.rescheduled_by == patient.user
    assert TreatmentSession.objects.filter(patient=patient).count() == 1
    assert client.post(reverse("portal_cancel", args=[session.pk])).status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED and session.cancelled_by == patient.user


def test_inside_the_notice_a_request_is_offered_instead(patient, doctor, room, settings):
    settings.SELF_SERVICE_NOTICE_HOURS = 50
    session = book(  # Wednesday 10:00, 49 hours ahead
        patient, date(2027, 1, 6), clinician_user=doctor, room=room, nsaid_free_confirmed=True
    )
    client = portal_client(patient)
    home = client.get(reverse("portal_home")).content.decode()
    assert 'id="cancel-link"' not in home and "Ask to move or cancel" in home
    request_url = reverse("portal_request_change", args=[session.pk])
    assert client.post(reverse("portal_cancel", args=[session.pk])).url == request_url
    assert client.get(URL, {"move": session.pk}).url == request_url
    with pytest.raises(Exception, match="less than 50 hours"):
        self_service.cancel_own_session(patient=patient, session=session, now=timezone.now())
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED


def test_exactly_at_the_notice_the_patient_may_still_change(patient, doctor, room):
    session = book(
        patient, date(2027, 1, 6), 9, clinician_user=doctor, room=room, nsaid_free_confirmed=True
    )
    assert session.starts_at - NOW == timedelta(hours=48)
    assert self_service.may_change_itself(session, now=NOW)
    assert not self_service.may_change_itself(session, now=NOW + timedelta(seconds=1))


def test_staff_cannot_use_the_page(staff_client, doctor, room):
    assert staff_client.get(URL).status_code in (302, 403)


def test_the_page_queries_are_constant(patient, doctor, room, django_assert_max_num_queries):
    client = portal_client(patient)
    client.get(URL)
    with django_assert_max_num_queries(16):
        client.get(URL, {"week": 1})
    with django_assert_max_num_queries(16):
        client.get(URL, {"week": 3})


def test_the_next_session_reminder_links_to_self_booking(patient, settings):
    from reminders.channels import message_context, render_email, render_sms
    from reminders.models import Reminder

    settings.SITE_URL = "https://clinic.example"
    portal_client(patient)
    patient.refresh_from_db()
    session = book(patient, date(2027, 3, 10))
    offline = book(PatientFactory(), date(2027, 3, 10), 12)

    def texts(s):
        email = Reminder(session=s, kind="next_session_eligible", channel="email")
        sms = Reminder(session=s, kind="next_session_eligible", channel="sms")
        return render_email(email, message_context(email)).text, render_sms(sms)

    email, sms = texts(session)
    assert "book a time yourself: https://clinic.example/portal/book/" in email
    assert "https://clinic.example/portal/book/" in sms
    email, sms = texts(offline)
    assert "/portal/book/" not in email and "/portal/book/" not in sms


# --- SELF_BOOKING_NEEDS_APPROVAL ------------------------------------------------------------


def test_with_approval_the_pick_is_a_request_the_desk_books(
    patient, doctor, room, settings, staff_client
):
    settings.SELF_BOOKING_NEEDS_APPROVAL = True
    client = portal_client(patient)
    assert 'id="needs-approval"' in client.get(URL).content.decode()
    assert pick(client, at(date(2027, 1, 8), 9)).status_code == 302
    assert not TreatmentSession.objects.exists()
    home = client.get(reverse("portal_home")).content.decode()
    assert "your request is sent" in home and 'id="booking-request"' in home
    assert "already asked" in pick(client, at(date(2027, 1, 8), 10)).content.decode()

    listing = staff_client.get(reverse("booking_requests")).content.decode()
    assert patient.last_name in listing
    (request,) = BookingRequest.objects.all()
    response = staff_client.post(
        reverse("booking_requests"), {"request": request.pk, "approve": "1"}
    )
    assert response.status_code == 302
    session = TreatmentSession.objects.get(patient=patient)
    assert session.starts_at == at(date(2027, 1, 8), 9) and session.booked_by != patient.user
    request.refresh_from_db()
    assert request.session == session and request.handled_at
    # Handled once: a second click changes nothing.
    staff_client.post(reverse("booking_requests"), {"request": request.pk, "approve": "1"})
    assert TreatmentSession.objects.count() == 1


def test_a_declined_request_needs_a_word_for_the_patient(
    patient, doctor, room, settings, staff_client
):
    settings.SELF_BOOKING_NEEDS_APPROVAL = True
    pick(portal_client(patient), at(date(2027, 1, 8), 9))
    request = BookingRequest.objects.get()
    url = reverse("booking_requests")
    staff_client.post(url, {"request": request.pk, "decline": "1", "outcome": "  "})
    request.refresh_from_db()
    assert request.handled_at is None
    staff_client.post(url, {"request": request.pk, "decline": "1", "outcome": "Dr away"})
    request.refresh_from_db()
    assert request.handled_at and request.outcome == "Dr away" and request.session is None
    for data in ({}, {"request": "x"}, {"request": "999999", "approve": "1"}):
        assert staff_client.post(url, data).status_code == 302


def test_a_time_taken_before_approval_is_refused_and_stays_open(
    patient, doctor, room, settings, staff_client
):
    settings.SELF_BOOKING_NEEDS_APPROVAL = True
    pick(portal_client(patient), at(date(2027, 1, 8), 9))
    book(PatientFactory(), date(2027, 1, 8), 9, clinician_user=doctor, room=room)
    request = BookingRequest.objects.get()
    page = staff_client.post(
        reverse("booking_requests"), {"request": request.pk, "approve": "1"}, follow=True
    )
    assert "no longer free" in page.content.decode()
    request.refresh_from_db()
    assert request.handled_at is None


def test_booking_requests_are_for_staff_who_book(patient, clinician_client):
    assert portal_client(patient).get(reverse("booking_requests")).status_code in (302, 403)
