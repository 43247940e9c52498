"""The waitlist on a phone: a patient asks for an earlier date from the booking page, a
session is cancelled, the patient opens the offer (the link in the notice) and books it;
the staff's waitlist page on a desktop. All axe clean."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts import roles
from reminders.models import Reminder
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.browser.conftest import SCREENSHOTS, axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, RoomFactory, UserFactory
from treatments import rules, services
from treatments.models import TreatmentSession, WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def test_a_patient_waits_is_offered_a_freed_time_and_books_it_on_a_phone(browser, live_server):
    doctor = UserFactory(
        username="dr.meyer", first_name="Anna", last_name="Meyer", role=roles.CLINICIAN
    )
    site = Site.objects.get(pk=default_site_id())
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(10))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=time(9), closes=time(10)
        )
    room = RoomFactory(name="Room 2", site=site)
    # Every 09:00 for the next eight weeks is taken; one of them, ten days ahead, will free.
    now = timezone.now()
    today = rules.local_day(now, site.tz)
    freed = None
    for days in range(0, 8 * 7 + 1):
        starts = datetime.combine(today + timedelta(days=days), time(9), tzinfo=site.tz)
        if starts <= now:
            continue
        session = services.book_session(
            patient=PatientFactory(),
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            clinician=doctor,
            room=room,
            booked_by=doctor,
            now=now - timedelta(days=30),
        )
        if days == 10:
            freed = session
    user = UserFactory(username="maria@example.com", role=roles.PATIENT)
    patient = PatientFactory(
        first_name="Maria", email="maria@example.com", user=user, reminders_by_sms=False
    )

    context = browser.new_context(viewport=PHONE, is_mobile=True)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "maria@example.com")
    page.wait_for_url("**/portal/")
    page.goto(live_server.url + "/portal/book/")
    page.click("#waitlist-link a")
    page.wait_for_selector("#join-button")
    assert "There is no free time you can book in the coming weeks." in page.content()
    assert axe_violations(page) == []
    page.click("#join-button")
    page.wait_for_selector("#waiting")
    assert WaitlistEntry.objects.get(patient=patient).status == "waiting"
    assert axe_violations(page) == []

    services.cancel_session(session=freed, reason="Patient is ill", cancelled_by=doctor)
    offer = WaitlistOffer.objects.get(patient=patient)
    notice = Reminder.objects.get(waitlist_offer=offer)
    assert notice.kind == "waitlist_offer"
    page.reload()
    page.click("#open-offer a")
    page.wait_for_selector("#accept-offer")
    assert "Berlin time" in page.locator("#offer-when").inner_text()
    assert axe_violations(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "portal-waitlist-offer-phone.png"), full_page=True)
    page.click("#accept-offer")
    page.wait_for_selector("text=Your session is booked for")
    booked = TreatmentSession.objects.get(patient=patient)
    assert booked.starts_at == freed.starts_at
    context.close()
    assert errors == []

    # The front desk's list, on a desktop: nobody waits any more, nothing is being offered.
    UserFactory(username="rita", role=roles.CLINIC_STAFF)
    context = browser.new_context(viewport=DESKTOP)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "rita")
    page.wait_for_url("**/schedule/")
    page.goto(live_server.url + "/waitlist/")
    page.wait_for_selector("#waitlist")
    assert "Nobody is waiting." in page.locator("#waitlist").inner_text()
    assert axe_violations(page) == []
    context.close()
    assert errors == []
