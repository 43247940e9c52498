"""The patient's language: consents are offered in it where the clinic published a version in
it, else in English; staff set it on the patient form."""

from datetime import date

import pytest
from django.urls import reverse

from consents import selectors
from consents.models import ConsentKind
from frontdesk.middleware import LOCK_KEY
from patients.models import Patient
from tests.factories import PatientFactory, book, sign_current_consents
from tests.test_consents import portal_client, publish, version

pytestmark = pytest.mark.django_db


@pytest.fixture
def german(frozen):
    return publish(
        ConsentKind.TREATMENT, 1, on=date(2026, 12, 1), language="de", text="Einwilligung"
    )


def test_a_german_patient_is_offered_the_german_version_in_the_portal(german):
    patient = PatientFactory(consents=False, language="de")
    sign_current_consents(patient, kinds=("photo",))
    listing = portal_client(patient).get(reverse("portal_consents")).content.decode()
    assert reverse("portal_consent_sign", args=[german.pk]) in listing
    english = version(ConsentKind.TREATMENT)
    assert reverse("portal_consent_sign", args=[english.pk]) not in listing


@pytest.mark.parametrize("language", ["en", "tr"])  # Turkish: none published, so English
def test_others_are_offered_english(german, language):
    patient = PatientFactory(consents=False, language=language)
    sign_current_consents(patient, kinds=("photo",))
    english = version(ConsentKind.TREATMENT)
    listing = portal_client(patient).get(reverse("portal_consents")).content.decode()
    assert reverse("portal_consent_sign", args=[english.pk]) in listing
    assert reverse("portal_consent_sign", args=[german.pk]) not in listing
    assert [v.language for v in selectors.missing_consents(patient, date(2027, 1, 4))] == ["en"]


def test_the_desk_offers_and_hands_over_the_german_version(german, staff_client):
    patient = PatientFactory(consents=False, language="de")
    sign_current_consents(patient, kinds=("photo",))
    session = book(patient, day=date(2027, 3, 10))
    html = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
    assert reverse("consent_desk_sign", args=[patient.pk, german.pk]) in html
    staff_client.post(reverse("consent_desk_hand_over", args=[patient.pk, german.pk]))
    assert staff_client.session[LOCK_KEY]["version"] == german.pk
    page = staff_client.get(reverse("desk_patient_signing")).content.decode()
    assert "Einwilligung" in page
    staff_client.post(
        reverse("desk_patient_signing"),
        {
            "typed_name": patient.full_name,
            "statements": ["0"],
            "shown_sha256": german.sha256,
        },
    )
    assert patient.consents.get(version__document__kind="treatment").version == german
    assert selectors.missing_consents(patient, date(2027, 3, 10)) == []


def form_data(client, patient, **changes):
    """The edit form as the page fills it, with `changes` (None: the field left out)."""
    form = client.get(reverse("patient_edit", args=[patient.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v not in (None, False)}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_set_the_language_on_the_patient_form(staff_client):
    patient = PatientFactory()
    url = reverse("patient_edit", args=[patient.pk])
    response = staff_client.post(url, form_data(staff_client, patient, language="de"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Patient.objects.get(pk=patient.pk).language == "de"
    # Left out: unchanged. Unknown: refused, no 500.
    staff_client.post(url, form_data(staff_client, patient, language=None))
    assert Patient.objects.get(pk=patient.pk).language == "de"
    response = staff_client.post(url, form_data(staff_client, patient, language="xx"))
    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).language == "de"
