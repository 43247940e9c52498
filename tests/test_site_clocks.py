"""Every time a person reads about a session is on its site's clock, named, and its day is
the site's day: a group with a Berlin site and an Istanbul site, around midnight.

00:30 on Wednesday 10 March 2027 in Istanbul is 22:30 on Tuesday 9 March in Berlin (the
clinic's default zone, CLINIC_TIME_ZONE): the Berlin reading would name the wrong day."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from icalendar import Calendar

from reminders.channels import message_context, render_email, render_sms
from reminders.models import Reminder
from sites.models import OpeningHours, Site, WorkingHours
from tests.factories import NOW, PatientFactory, RoomFactory, clinician
from tests.test_portal import portal_client
from treatments import recall, services
from treatments.formatting import session_at, session_span, session_when
from treatments.models import ProtocolVersion, TreatmentSession
from treatments.rules import add_months

pytestmark = pytest.mark.django_db

ISTANBUL = ZoneInfo("Europe/Istanbul")
BERLIN = ZoneInfo("Europe/Berlin")
LATE = datetime(2027, 3, 10, 0, 30, tzinfo=ISTANBUL)  # 9 March, 22:30 in Berlin


@pytest.fixture
def istanbul():
    return Site.objects.create(
        name="Istanbul Nişantaşı", time_zone="Europe/Istanbul", address="Abdi İpekçi Cd. 1"
    )


@pytest.fixture
def doctor():
    return clinician(first_name="Deniz", last_name="Kaya")


@pytest.fixture
def room(istanbul):
    return RoomFactory(site=istanbul, name="Oda 1")


@pytest.fixture
def session(istanbul, doctor, room):
    patient = PatientFactory(first_name="Ayşe", time_zone="Europe/Berlin")
    return services.book_session(
        patient=patient,
        starts_at=LATE,
        ends_at=LATE + timedelta(hours=1),
        clinician=doctor,
        room=room,
        booked_by=doctor,
        now=NOW,
    )


def test_the_session_knows_its_clock(session, istanbul):
    assert session.tz == ISTANBUL and session.local_date == date(2027, 3, 10)
    assert session_when(session) == "Wednesday 10 March 2027 at 00:30 Istanbul time"
    assert session_span(session) == "00:30–01:30 Istanbul time"
    assert session_at(session) == "Wed 10 Mar 2027, 00:30 Istanbul time"
    # A Berlin reader: the site's clock first, their own (and their day) second.
    assert session_when(session, BERLIN) == (
        "Wednesday 10 March 2027 at 00:30 Istanbul time (Tuesday 22:30 your time in Berlin)"
    )


def test_the_schedule_lists_it_on_the_sites_day_and_clock(staff_client, session):
    page = staff_client.get(reverse("schedule"), {"day": "2027-03-10"}).content.decode()
    assert "00:30–01:30 Istanbul time" in page
    # Not on Berlin's 9 March, where the clinic's clock would put it.
    earlier = staff_client.get(reverse("schedule"), {"day": "2027-03-09"}).content.decode()
    assert session.patient.full_name not in earlier


def test_the_schedule_names_each_sites_clock(staff_client, session, doctor):
    berlin_room = RoomFactory(name="Raum 2")  # the default site, Berlin
    other = services.book_session(
        patient=PatientFactory(),
        starts_at=datetime(2027, 3, 10, 9, tzinfo=BERLIN),
        ends_at=datetime(2027, 3, 10, 10, tzinfo=BERLIN),
        clinician=doctor,
        room=berlin_room,
        booked_by=doctor,
        now=NOW,
    )
    page = staff_client.get(reverse("schedule"), {"day": "2027-03-10"}).content.decode()
    assert "09:00–10:00 Berlin time" in page and "00:30–01:30 Istanbul time" in page
    assert other.local_date == session.local_date


def test_the_session_and_patient_pages(staff_client, session):
    page = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
    assert "Wednesday 10 March 2027, 00:30–01:30 Istanbul time" in page
    assert "22:30" not in page
    patient_page = staff_client.get(
        reverse("patient_detail", args=[session.patient_id])
    ).content.decode()
    assert "Wed 10 Mar 2027, 00:30 Istanbul time" in patient_page


def test_the_move_form_opens_on_the_sites_clock_and_keeps_the_time(staff_client, session):
    url = reverse("session_reschedule", args=[session.pk])
    form = staff_client.get(url).context["form"]
    assert form.initial["day"] == date(2027, 3, 10) and form.initial["time"] == time(0, 30)
    assert "Wed 10 Mar 2027, 00:30 Istanbul time" in staff_client.get(url).content.decode()
    # Submitting it unchanged but an hour later moves it by an hour, on Istanbul's clock.
    response = staff_client.post(
        url,
        {
            "day": "2027-03-10",
            "time": "01:30",
            "duration": "60",
            "clinician": session.clinician_id,
            "room": session.room_id,
        },
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.starts_at == LATE + timedelta(hours=1)


def test_the_portal_names_the_sites_clock_and_the_patients_own(frozen, session):
    client = portal_client(session.patient)
    home = client.get(reverse("portal_home")).content.decode()
    assert (
        "Wednesday 10 March 2027 at 00:30 Istanbul time (Tuesday 22:30 your time in Berlin)" in home
    )
    assert "Istanbul Nişantaşı, Abdi İpekçi Cd. 1" in home
    cancel = client.get(reverse("portal_cancel", args=[session.pk])).content.decode()
    assert "Wednesday 10 March 2027 at 00:30 Istanbul time" in cancel
    ask = client.get(reverse("portal_request_change", args=[session.pk])).content.decode()
    assert "Wednesday 10 March 2027 at 00:30 Istanbul time" in ask


def test_the_ics_names_the_sites_time_and_place(frozen, session):
    client = portal_client(session.patient)
    response = client.get(reverse("portal_session_ics", args=[session.pk]))
    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert event.decoded("dtstart") == LATE  # the instant (UTC in the file)
    assert "00:30 Istanbul time" in str(event["description"])
    assert str(event["location"]) == "Istanbul Nişantaşı, Abdi İpekçi Cd. 1"


def test_reminders_name_the_sites_day_and_clock(session):
    reminder = Reminder.objects.get(session=session, kind="booking_confirmation", channel="email")
    context = message_context(reminder)
    assert context["session_day"] == "Wednesday 10 March 2027"
    assert context["session_short"] == "Wed 10 Mar, 00:30 Istanbul (Tue 22:30 in Berlin)"
    assert context["clinic_place"] == "Istanbul"
    email = render_email(reminder)
    assert "Wednesday 10 March 2027" in email.subject
    assert "00:30 Istanbul time (Tuesday 22:30 your time in Berlin)" in email.text
    assert "Abdi İpekçi Cd. 1" in email.text
    assert "Wed 10 Mar, 00:30 Istanbul" in render_sms(reminder)


def test_a_refused_clash_hints_times_on_the_rooms_clock(staff_client, session, doctor, room):
    url = reverse("session_book", args=[PatientFactory().pk])
    response = staff_client.post(
        url,
        {
            "day": "2027-03-10",
            "time": "00:30",
            "duration": "60",
            "clinician": doctor.pk,
            "room": room.pk,
            "booking_key": "6b1a3c0e-0000-4000-8000-000000000001",
        },
    )
    hints = response.context["free_slots"]
    # Istanbul's 08:00 onwards (the hints' day is 08–18 on the site's clock).
    assert list(hints)[:2] == ["08:00", "08:15"] and hints.city == "Istanbul"
    assert "08:00, 08:15, 08:30, 08:45 Istanbul time" in response.content.decode()


def _open_at_midnight(site, doctor):
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(0), closes=time(2))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=time(0), closes=time(2)
        )


def test_the_self_booking_list_shows_the_sites_days(frozen, istanbul, doctor, room):
    _open_at_midnight(istanbul, doctor)
    patient = PatientFactory(time_zone="Europe/Berlin")
    page = portal_client(patient).get("/portal/book/", {"site": istanbul.pk}).content.decode()
    # Saturday 9 January 00:00 in Istanbul is Friday 8 January 22:00 in Berlin: listed under
    # Istanbul's Saturday. (8 January's midnight slots are the 7th on the patient's
    # calendar, inside the NSAID notice.)
    assert "Saturday 9 January" in page
    assert "00:00, Saturday 9 January, Istanbul time" in page
    assert "Friday 8 January" not in page


def test_the_staff_slot_list_names_the_sites_clock(staff_client, istanbul, doctor, room):
    _open_at_midnight(istanbul, doctor)
    Site.objects.create(name="Berlin Mitte", time_zone="Europe/Berlin")  # two sites
    url = reverse("session_book", args=[PatientFactory().pk])
    page = staff_client.get(url, {"site": istanbul.pk}).content.decode()
    assert "Sat 9 Jan 2027, 00:00 Istanbul time, Deniz Kaya, Oda 1" in page


def test_the_recall_list_shows_the_sites_day(staff_client, istanbul, doctor, room):
    patient = PatientFactory(last_name="Yılmaz")
    day = date(2026, 6, 10)  # 00:30 in Istanbul: still 9 June in Berlin
    TreatmentSession.objects.create(
        patient=patient,
        starts_at=datetime(2026, 6, 10, 0, 30, tzinfo=ISTANBUL),
        ends_at=datetime(2026, 6, 10, 1, 30, tzinfo=ISTANBUL),
        clinician=doctor,
        room=room,
        site=istanbul,
        protocol=ProtocolVersion.objects.first(),
        gap_months=6,
        local_date=day,
        gap_until=add_months(day, 6),
        booked_by=doctor,
        booked_at=datetime(2026, 6, 1, tzinfo=ISTANBUL),
        status="completed",
        completed_at=datetime(2026, 6, 10, 1, 30, tzinfo=ISTANBUL),
    )
    [due] = recall.due_patients(today=NOW.date())
    assert due.last_day == date(2026, 6, 10) and due.due_day == date(2026, 12, 10)
    page = staff_client.get(reverse("recall")).content.decode()
    assert "10 Jun 2026" in page and "09 Jun 2026" not in page


def test_the_booking_preview_reads_the_rooms_clock(staff_client, room):
    patient = PatientFactory(time_zone="Europe/Berlin")
    url = reverse("session_preview", args=[patient.pk])
    query = {"day": "2027-01-08", "time": "00:30"}
    # 00:30 on 8 January in Istanbul is the 7th, 22:30, on the patient's Berlin calendar:
    # the NSAID pause (from the 4th) has begun today. On Berlin's clock it would be the 8th.
    at_istanbul = staff_client.get(url, {**query, "room": room.pk}).json()
    assert at_istanbul["short_notice"] is True
    assert at_istanbul["nsaid_first"] == "Monday 4 January 2027"
    at_berlin = staff_client.get(url, {**query, "room": RoomFactory().pk}).json()
    assert at_berlin["short_notice"] is False
    assert staff_client.get(url, {**query, "room": "x"}).status_code == 200


def test_the_subject_access_export_gives_the_sites_time(session, clinic_admin_client):
    from audit.subject_access import subject_access_report

    [held] = subject_access_report(session.patient)["sessions"]
    assert held["starts_at"] == LATE and str(held["starts_at"].tzinfo) == "Europe/Istanbul"
    assert held["site"] == "Istanbul Nişantaşı"
    page = clinic_admin_client.get(reverse("patient_export", args=[session.patient_id]))
    assert "Wednesday 10 March 2027 at 00:30 Istanbul time" in page.content.decode()
