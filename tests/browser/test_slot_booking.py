"""The staff booking page's next free slots: one is picked and booked, desktop and phone."""

from datetime import time

import pytest
from django.utils import timezone

from accounts import roles
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.browser.conftest import axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, RoomFactory, UserFactory
from treatments.models import TreatmentSession

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_free_slot_is_picked_and_booked(browser, live_server, viewport):
    UserFactory(username="rita", first_name="Rita", role=roles.CLINIC_STAFF)
    doctor = UserFactory(
        username="dr.meyer", first_name="Anna", last_name="Meyer", role=roles.CLINICIAN
    )
    site = Site.objects.get(pk=default_site_id())
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(17))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=time(9), closes=time(17)
        )
    RoomFactory(name="Room 2", site=site)
    patient = PatientFactory()

    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "rita")
    page.wait_for_url("**/schedule/")
    page.goto(f"{live_server.url}/patients/{patient.pk}/book/")
    first = page.locator("#next-slots li.slot").first
    first.wait_for()
    text = first.inner_text()
    assert "First possible:" in text and "Berlin time, Anna Meyer, Room 2" in text
    assert axe_violations(page) == []
    first.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.input_value("#id_time").startswith("09:00")
    page.click("#book-button")
    page.wait_for_selector("text=Session booked for")
    session = TreatmentSession.objects.get(patient=patient)
    assert session.clinician == doctor and session.room.name == "Room 2"
    local = timezone.localtime(session.starts_at, site.tz)
    assert local.time() == time(9)
    assert axe_violations(page) == []
    context.close()
    assert errors == []
