"""At the desk: a patient signs the treatment consent in the portal on a phone, then the
clinician completes the session by clicking through its complete page; without the consent
the page refuses, naming it; and the "hand the device to the patient" mode on the desk's
screen (lock, the patient signs, the staff member unlocks with their password)."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from accounts import roles
from consents.models import Consent, ConsentDocument
from tests.browser.conftest import SCREENSHOTS, axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, ProductLotFactory, RoomFactory, UserFactory
from treatments import services
from treatments.models import SessionStatus

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


def _consents_published():
    if not ConsentDocument.objects.exists():  # a flushed database lost the migration's
        importlib.import_module(
            "consents.migrations.0001_consent_documents_versions_signatures"
        ).create_default_consents(apps, None)


@pytest.fixture
def today_session():
    """Maria's session that began two hours ago, with dr.meyer; no consent signed."""
    _consents_published()
    doctor = UserFactory(username="dr.meyer", role=roles.CLINICIAN)
    patient = PatientFactory(
        consents=False, first_name="Maria", last_name="Santos", email="maria@example.com"
    )
    patient.user = UserFactory(username="maria@example.com", role=roles.PATIENT)
    patient.save()
    starts = timezone.now() - timedelta(hours=2)
    session = services.book_session(
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=RoomFactory(),
        booked_by=doctor,
        now=starts - timedelta(days=10),
    )
    ProductLotFactory()
    return session


def _desk(browser, live_server, username):
    context = browser.new_context(viewport=DESK)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, username)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return context, page, errors


def _complete_at_the_desk(page, live_server, session):
    page.goto(f"{live_server.url}/sessions/{session.pk}/complete/")
    page.select_option("#id_lot", index=1)
    page.fill("#id_vials", "1")
    page.click("form:has(#id_lot) button[type=submit]")


def test_signed_in_the_portal_on_a_phone_then_completed_at_the_desk(
    browser, live_server, today_session
):
    session = today_session
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    phone_errors = watch_console(phone)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "maria@example.com")
    page.wait_for_url("**/portal/")
    page.goto(f"{live_server.url}/portal/consents/")
    page.click("text=Read and sign the Treatment consent")
    page.fill("#id_typed_name", "Maria Santos")
    for box in page.query_selector_all("input[name=statements]"):
        box.check()
    page.click("#sign-consent")
    page.wait_for_selector("#signed-consent")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.close()
    assert phone_errors == []

    desk, page, errors = _desk(browser, live_server, "dr.meyer")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    # Signed: the session page no longer asks for the treatment consent.
    assert "Treatment consent" not in (page.text_content("#missing-consents") or "")
    _complete_at_the_desk(page, live_server, session)
    page.wait_for_url(f"**/sessions/{session.pk}/")
    page.wait_for_selector("text=Session completed")
    assert axe_violations(page) == []
    desk.close()
    assert errors == []
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED


def test_completion_at_the_desk_is_refused_without_the_consent(browser, live_server, today_session):
    session = today_session
    desk, page, errors = _desk(browser, live_server, "dr.meyer")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    assert "Treatment consent" in page.inner_text("#missing-consents")
    _complete_at_the_desk(page, live_server, session)
    refusal = page.wait_for_selector("text=has not signed")
    assert "Treatment consent version 1" in refusal.inner_text()
    assert page.url.endswith(f"/sessions/{session.pk}/complete/")
    assert axe_violations(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "desk-complete-refused.png"), full_page=True)
    desk.close()
    assert errors == []
    session.refresh_from_db()
    assert session.status != SessionStatus.COMPLETED


def test_the_desk_hands_the_device_to_the_patient_and_unlocks_it(
    browser, live_server, today_session
):
    session = today_session
    patient = session.patient
    UserFactory(username="reception", role=roles.CLINIC_STAFF, first_name="Rita", last_name="Desk")
    desk, page, errors = _desk(browser, live_server, "reception")
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    page.click("#missing-consents li:has-text('Treatment consent') >> text=Sign at the desk")
    page.click("#hand-over")
    page.wait_for_url("**/desk/patient-signing/")
    # Locked: no navigation, and another address typed leads back.
    assert page.query_selector("nav .nav-link") is None
    assert axe_violations(page) == []
    page.goto(f"{live_server.url}/patients/")
    assert page.url.endswith("/desk/patient-signing/")
    page.goto(f"{live_server.url}/schedule/")
    assert page.url.endswith("/desk/patient-signing/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "desk-hand-over.png"), full_page=True)
    # The patient signs.
    page.fill("#id_typed_name", "Maria Santos")
    for box in page.query_selector_all("input[name=statements]"):
        box.check()
    page.click("#sign-consent")
    page.wait_for_selector("#desk-thank-you")
    assert "please hand the device back" in page.inner_text("#desk-thank-you").lower()
    assert axe_violations(page) == []
    # The staff member: a wrong password keeps it locked, their own unlocks it.
    page.fill("#id_password", "not the password")
    page.click("#unlock")
    page.wait_for_selector("#desk-unlock .invalid-feedback")
    page.goto(f"{live_server.url}/schedule/")
    assert page.url.endswith("/desk/patient-signing/")
    page.fill("#id_password", "correct horse battery")
    page.click("#unlock")
    page.wait_for_url(f"**/patients/{patient.pk}/")
    page.goto(f"{live_server.url}/patients/{patient.pk}/consents/")
    assert "Rita Desk" in page.inner_text("#signatures")
    assert axe_violations(page) == []
    desk.close()
    assert errors == []
    consent = Consent.objects.get(patient=patient)
    assert (consent.signed_via, consent.witnessed_by.username) == ("desk", "reception")
