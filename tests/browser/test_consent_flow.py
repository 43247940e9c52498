"""A patient signs the treatment consent in the portal on a phone; the session can then be
completed, and could not before."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import roles
from consents.models import Consent, ConsentDocument
from tests.browser.conftest import SCREENSHOTS, axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, ProductLotFactory, RoomFactory, UserFactory
from treatments import services

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def test_sign_the_consent_on_a_phone_then_the_session_is_completed(browser, live_server):
    if not ConsentDocument.objects.exists():  # a flushed database lost the migration's
        importlib.import_module(
            "consents.migrations.0001_consent_documents_versions_signatures"
        ).create_default_consents(apps, None)
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
    lot = ProductLotFactory()

    def complete():
        return services.complete_session(
            session=session, vials=[(lot, 1)], completed_by=doctor, now=timezone.now()
        )

    with pytest.raises(ValidationError) as refused:  # no consent yet: refused
        complete()
    assert refused.value.code == "consent_required"

    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    errors = watch_console(phone)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "maria@example.com")
    page.wait_for_url("**/portal/")
    page.goto(f"{live_server.url}/portal/consents/")
    page.click("text=Read and sign the Treatment consent")
    assert "exosome injections" in page.inner_text("#consent-text")
    assert axe_violations(page) == []
    page.fill("#id_typed_name", "Someone Else")  # another name: refused, the page stays
    for box in page.query_selector_all("input[name=statements]"):
        box.check()
    page.click("#sign-consent")
    page.wait_for_selector(".invalid-feedback:has-text('Maria Santos')")
    assert not Consent.objects.filter(patient=patient).exists()
    page.fill("#id_typed_name", "  maria SANTOS ")
    for box in page.query_selector_all("input[name=statements]"):
        box.check()
    page.click("#sign-consent")
    page.wait_for_selector("#signed-consent")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "portal-consent-signed-phone.png"), full_page=True)
    phone.close()
    assert errors == []

    consent = Consent.objects.get(patient=patient)
    assert consent.signed_via == "portal" and consent.user_agent
    assert complete().status == "completed"
