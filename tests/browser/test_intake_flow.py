"""The intake questionnaire on a phone, then the clinician's review at the desk."""

import pytest
from django.contrib.auth.models import Group

from accounts import roles
from patients.models import IntakeVersion
from tests.browser.conftest import sign_in, watch_console
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def test_patient_fills_in_the_intake_on_a_phone_and_a_clinician_reviews_it(browser, live_server):
    UserFactory(username="dr.meyer", role=roles.CLINICIAN)
    patient = PatientFactory(intake=False, email="maria.santos@example.com")
    user = UserFactory(username="maria.santos@example.com", email=patient.email)
    user.groups.add(Group.objects.get(name=roles.PATIENT))
    patient.user = user
    patient.save(update_fields=["user"])

    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    errors = watch_console(phone)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "maria.santos@example.com")
    page.goto(f"{live_server.url}/portal/intake/")
    page.fill("#id_medical_history", "Coronary stent 2021")
    page.check("#id_takes_prescribed_nsaid")
    page.fill("#id_prescribed_nsaid", "Aspirin 100 mg daily")
    page.check("input[name=smoking][value=never]")
    page.check("input[name=alcohol][value=occasional]")
    page.fill("#id_lines-0-name", "Aspirin")
    page.fill("#id_lines-0-dose", "100 mg")
    page.fill("#id_lines-1-name", "Ramipril")
    page.click("#add-line")  # no script: the page comes back with one more line
    page.wait_for_selector("#id_lines-2-name")
    assert page.input_value("#id_lines-1-name") == "Ramipril"
    page.fill("#id_lines-2-name", "Vitamin D")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.click("#intake-submit")
    page.wait_for_selector("text=A clinician will read your answers")

    version = IntakeVersion.objects.get(patient=patient)
    assert [m.name for m in version.medications.all()] == ["Aspirin", "Ramipril", "Vitamin D"]
    patient.refresh_from_db()
    assert patient.takes_prescribed_nsaid

    desk_context = browser.new_context(viewport={"width": 1280, "height": 900})
    desk_errors = watch_console(desk_context)
    desk = desk_context.new_page()
    sign_in(desk, live_server, "dr.meyer")
    desk.goto(f"{live_server.url}/patients/{patient.pk}/")
    desk.click("#intake-review")
    desk.wait_for_selector("#intake-reviewed")
    version.refresh_from_db()
    assert version.reviewed_at is not None

    page.goto(f"{live_server.url}/portal/intake/")
    page.click("#intake-nothing-changed")
    page.wait_for_selector("text=your answers are confirmed")
    phone.close()
    desk_context.close()
    assert errors == [] and desk_errors == []
