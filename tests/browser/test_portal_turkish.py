"""A Turkish patient's portal on a phone: in Turkish from the sign-in page on (the browser asks
for Turkish), their own pages in their stored language, accessible (axe) and without sideways
scrolling."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts import roles
from tests.browser.conftest import SCREENSHOTS, axe_violations, open_menu, sign_in, watch_console
from tests.factories import PatientFactory, RoomFactory, UserFactory
from treatments import services

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def test_a_turkish_patient_reads_the_portal_in_turkish_on_a_phone(browser, live_server):
    doctor = UserFactory(username="dr.yilmaz", role=roles.CLINICIAN)
    user = UserFactory(username="elif.kaya@example.com", role=roles.PATIENT)
    patient = PatientFactory(
        first_name="Elif", last_name="Kaya", email=user.username, user=user, language="tr"
    )
    day = timezone.localdate() + timedelta(days=20)
    starts = datetime.combine(day, time(16), tzinfo=timezone.get_default_timezone())
    services.book_session(
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=RoomFactory(),
        booked_by=doctor,
    )

    phone = browser.new_context(viewport=PHONE, is_mobile=True, locale="tr-TR")
    errors = watch_console(phone)
    page = phone.new_page()
    page.set_default_timeout(15_000)

    # Nobody signed in yet: the browser's language (Accept-Language: tr-TR).
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_attribute("html", "lang") == "tr"
    assert page.locator("h1", has_text="Giriş yap").is_visible()
    assert axe_violations(page) == []

    sign_in(page, live_server, user.username)
    page.wait_for_url("**/portal/")
    assert page.get_attribute("html", "lang") == "tr"
    assert page.locator("h1", has_text="Merhaba Elif").is_visible()
    assert page.locator("text=Bir sonraki seansınız").is_visible()
    assert "Berlin saatiyle 16:00" in page.inner_text("#next-session")
    assert page.locator("#ics-link", has_text="Takvime ekle").is_visible()
    assert "Hello" not in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "portal-turkish-phone.png"), full_page=True)

    # The menu and a form page, in Turkish too.
    open_menu(page)
    assert page.locator("#nav", has_text="Seansım").is_visible()
    page.click("#nav >> text=Tercihler")
    page.wait_for_selector("h1:has-text('Tercihleriniz')")
    assert page.locator("label", has_text="Dil").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == []
    page.screenshot(path=str(SCREENSHOTS / "portal-turkish-preferences-phone.png"), full_page=True)
    phone.close()
    assert errors == []
