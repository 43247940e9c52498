"""A patient books a session themselves on a phone and cancels it; the staff's recall list on
a desktop. Both axe clean."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts import roles
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.browser.conftest import axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, RoomFactory, UserFactory
from treatments import services
from treatments.models import SessionStatus, TreatmentSession

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _open_every_day(doctor):
    site = Site.objects.get(pk=default_site_id())
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(17))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=time(9), closes=time(17)
        )
    return site


def test_a_patient_books_and_cancels_on_a_phone(browser, live_server):
    doctor = UserFactory(
        username="dr.meyer", first_name="Anna", last_name="Meyer", role=roles.CLINICIAN
    )
    site = _open_every_day(doctor)
    RoomFactory(name="Room 2", site=site)
    user = UserFactory(username="maria@example.com", role=roles.PATIENT)
    patient = PatientFactory(first_name="Maria", email="maria@example.com", user=user)

    context = browser.new_context(viewport=PHONE, is_mobile=True)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "maria@example.com")
    page.wait_for_url("**/portal/")
    page.click("#book-link")
    first = page.locator("#slots li.slot button").first
    first.wait_for()
    assert first.inner_text() == "09:00"
    assert axe_violations(page) == []
    first.click()
    page.wait_for_selector("text=Your session is booked for")
    session = TreatmentSession.objects.get(patient=patient)
    assert session.booked_by == user and timezone.localtime(session.starts_at, site.tz).hour == 9
    assert axe_violations(page) == []
    page.click("#cancel-link")
    page.click("#cancel-button")
    page.wait_for_selector("text=Your session is cancelled")
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    context.close()
    assert errors == []


def test_the_recall_list_on_a_desktop(browser, live_server):
    UserFactory(username="rita", role=roles.CLINIC_STAFF)
    doctor = UserFactory(username="dr.meyer", role=roles.CLINICIAN)
    _open_every_day(doctor)
    room = RoomFactory()
    patient = PatientFactory(first_name="Maria", last_name="Santos")
    booked_on = timezone.now() - timedelta(days=220)
    day = timezone.localdate(booked_on) + timedelta(days=20)
    starts = datetime.combine(day, time(10), tzinfo=timezone.get_default_timezone())
    services.book_session(
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=room,
        booked_by=doctor,
        now=booked_on,
    )

    context = browser.new_context(viewport=DESKTOP)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "rita")
    page.wait_for_url("**/schedule/")
    page.click("nav >> text=Recall")
    row = page.locator("#recall tbody tr").first
    row.wait_for()
    assert "Santos, Maria" in row.inner_text() and "now" in row.inner_text()
    assert axe_violations(page) == []
    page.fill("#id_weeks", "0")
    page.click("#recall-form button")
    page.wait_for_url("**weeks=0")
    assert "Santos, Maria" in page.locator("#recall").inner_text()
    context.close()
    assert errors == []
