"""A patient's first visit to the portal, on a phone, and the staff seeing their report."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from accounts import roles
from tests.browser.conftest import SCREENSHOTS, open_menu, sign_in, watch_console
from tests.factories import PatientFactory, RoomFactory, UserFactory
from treatments import rules, services

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def test_invited_patient_on_a_phone(browser, live_server):
    UserFactory(username="rita", role=roles.CLINIC_STAFF)
    doctor = UserFactory(username="dr.meyer", role=roles.CLINICIAN)
    patient = PatientFactory(
        first_name="Maria", last_name="Santos", email="Maria.Santos@example.com"
    )
    day = timezone.localdate() + timedelta(days=20)
    starts = datetime.combine(day, time(10), tzinfo=timezone.get_default_timezone())
    session = services.book_session(
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=RoomFactory(),
        booked_by=doctor,
    )
    window = session.nsaid_window()

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    desk_errors = watch_console(staff)
    desk = staff.new_page()
    sign_in(desk, live_server, "rita")
    desk.goto(f"{live_server.url}/patients/{patient.pk}/")
    desk.click("text=Invite to the portal")
    desk.wait_for_selector("text=Invitation sent")
    link = re.search(r"/portal/welcome/\S+/", mail.outbox[-1].body).group(0)

    phone = browser.new_context(viewport=PHONE, accept_downloads=True, is_mobile=True)
    phone_errors = watch_console(phone)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + link)
    page.fill("#id_new_password1", "Sunny-Lisbon-77")
    page.fill("#id_new_password2", "Sunny-Lisbon-77")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Welcome! Your password is set.")

    # Sign out and in again, with the email as typed in the invitation, on the phone.
    open_menu(page)
    page.click("button:has-text('Sign out')")
    page.wait_for_selector("text=You are signed out")  # the sign-out POST has finished
    sign_in(page, live_server, "maria.santos@example.com", password="Sunny-Lisbon-77")
    page.wait_for_url("**/portal/")
    stop = f"From {window.first_day:%A} {window.first_day.day} {window.first_day:%B}:"
    assert stop in page.inner_text("#nsaid-stop")
    assert (
        page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    )  # no sideways scroll
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "portal-first-visit-phone.png"), full_page=True)

    # "Print this sheet" works without an inline handler (static/js/clinic.js).
    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("text=Print this sheet")
    assert page.evaluate("window.printed") is True

    with page.expect_download() as download:
        page.click("#ics-link")
    [event] = Calendar.from_ical(open(download.value.path(), "rb").read()).walk("VEVENT")
    assert event.decoded("dtstart") == session.starts_at

    open_menu(page)
    page.click("text=Aftercare")
    page.fill("#id_description", "Itchy and a little swollen at the crown")
    page.click("button:has-text('Send to the clinic')")
    page.wait_for_selector("text=The clinic has your message")

    desk.goto(f"{live_server.url}/patients/{patient.pk}/")
    assert "Itchy and a little swollen" in desk.inner_text(".side-effect-report")
    desk.goto(f"{live_server.url}/schedule/?day={day.isoformat()}")
    assert desk.locator("text=Side effect reported by the patient").count() >= 1
    staff.close()
    phone.close()
    # No console error and no Content-Security-Policy violation on any page visited.
    assert desk_errors == [] and phone_errors == []
    assert rules.local_day(session.starts_at, patient.tz) == day
