"""The front desk's "hand the device to the patient" mode: a lock bound to (patient, consent
version, witness) in the session, every other page redirected back to the signing page, the
staff member's password to unlock."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from consents.models import Consent, ConsentKind, ConsentVersion
from frontdesk.middleware import LOCK_KEY
from frontdesk.views.consents import DESK_UNLOCK_ATTEMPTS
from tests.factories import PatientFactory, book

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests.factories.UserFactory


def treatment():
    return ConsentVersion.objects.get(document__kind=ConsentKind.TREATMENT, number=1, language="en")


def locked(staff_client, patient=None):
    patient = patient or PatientFactory(consents=False)
    v = treatment()
    response = staff_client.post(reverse("consent_desk_hand_over", args=[patient.pk, v.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("desk_patient_signing")
    return patient, v


def sign_data(patient, v, **extra):
    data = {
        "typed_name": patient.full_name,
        "statements": [str(i) for i in range(len(v.statements))],
        "shown_sha256": v.sha256,
    }
    data.update(extra)
    return data


def test_the_desk_signing_page_offers_the_hand_over(staff_client):
    patient = PatientFactory(consents=False)
    v = treatment()
    html = staff_client.get(reverse("consent_desk_sign", args=[patient.pk, v.pk])).content
    assert reverse("consent_desk_hand_over", args=[patient.pk, v.pk]).encode() in html
    # Only by POST: a link cannot lock a session.
    url = reverse("consent_desk_hand_over", args=[patient.pk, v.pk])
    assert staff_client.get(url).status_code == 405
    assert LOCK_KEY not in staff_client.session


def test_the_lock_binds_patient_version_and_witness(staff_client):
    patient, v = locked(staff_client)
    lock = staff_client.session[LOCK_KEY]
    assert (lock["patient"], lock["version"], lock["witness"]) == (
        patient.pk,
        v.pk,
        staff_client.user.pk,
    )


def test_while_locked_every_other_page_leads_back_to_the_signing_page(staff_client):
    patient, v = locked(staff_client)
    other = PatientFactory()
    session = book(other, day=date(2027, 3, 10))
    target = reverse("desk_patient_signing")
    for url in [
        reverse("home"),
        reverse("schedule"),
        reverse("patient_list"),
        reverse("patient_detail", args=[patient.pk]),
        reverse("patient_detail", args=[other.pk]),
        reverse("session_detail", args=[session.pk]),
        reverse("patient_history", args=[other.pk]),
        reverse("consent_desk_sign", args=[other.pk, v.pk]),
        reverse("password_change"),
        reverse("admin:index"),
        reverse("portal_home"),
        "/no/such/page/",
        "/patients/999999/",
    ]:
        response = staff_client.get(url)
        assert (response.status_code, response["Location"]) == (302, target), url
    # Writes too: a POST to another page does nothing but redirect.
    response = staff_client.post(reverse("patient_edit", args=[other.pk]), {"first_name": "X"})
    assert (response.status_code, response["Location"]) == (302, target)
    # A second hand-over cannot swap the patient either.
    response = staff_client.post(reverse("consent_desk_hand_over", args=[other.pk, v.pk]))
    assert response["Location"] == target
    assert staff_client.session[LOCK_KEY]["patient"] == patient.pk


def test_the_locked_page_shows_the_consent_and_no_staff_navigation(staff_client):
    patient, v = locked(staff_client)
    other = PatientFactory(first_name="Zebedee")
    html = staff_client.get(reverse("desk_patient_signing")).content.decode()
    assert v.text.splitlines()[0] in html or v.document.title in html
    assert 'id="sign-consent"' in html
    for absent in (
        reverse("schedule"),
        reverse("patient_list"),
        reverse("logout"),
        reverse("patient_detail", args=[patient.pk]),
        patient.email or "@@none@@",
        other.first_name,
    ):
        assert absent not in html


def test_the_patient_signs_with_the_staff_member_as_witness_then_unlocks(staff_client):
    patient, v = locked(staff_client)
    url = reverse("desk_patient_signing")
    response = staff_client.post(url, sign_data(patient, v))
    assert response.status_code == 302
    consent = Consent.objects.get(patient=patient)
    assert (consent.version, consent.signed_via, consent.witnessed_by) == (
        v,
        "desk",
        staff_client.user,
    )
    html = staff_client.get(url).content.decode()
    assert "please hand the device back" in html.lower()
    assert 'id="sign-consent"' not in html
    # Still locked after signing.
    assert staff_client.get(reverse("schedule"))["Location"] == url
    # A second POST does not sign again.
    staff_client.post(url, sign_data(patient, v))
    assert Consent.objects.filter(patient=patient).count() == 1
    response = staff_client.post(reverse("desk_unlock"), {"password": PASSWORD})
    assert response["Location"] == reverse("patient_detail", args=[patient.pk])
    assert LOCK_KEY not in staff_client.session
    assert staff_client.get(reverse("schedule")).status_code == 200


def test_a_wrong_password_keeps_it_locked(staff_client):
    patient, v = locked(staff_client)
    for data in ({"password": "wrong"}, {"password": ""}, {}, {"password": "x" * 5000}):
        response = staff_client.post(reverse("desk_unlock"), data)
        assert response.status_code == 200 and b'id="desk-unlock"' in response.content
        assert LOCK_KEY in staff_client.session
    assert staff_client.get(reverse("schedule"))["Location"] == reverse("desk_patient_signing")
    # GET of the unlock address does not unlock.
    assert staff_client.get(reverse("desk_unlock")).status_code == 405


def test_too_many_wrong_passwords_sign_the_session_out(staff_client):
    locked(staff_client)
    for _ in range(DESK_UNLOCK_ATTEMPTS):
        response = staff_client.post(reverse("desk_unlock"), {"password": "guess"})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert LOCK_KEY not in staff_client.session
    assert "_auth_user_id" not in staff_client.session


def test_signing_out_stays_possible(staff_client):
    locked(staff_client)
    response = staff_client.post(reverse("logout"))
    assert response.status_code == 302
    assert LOCK_KEY not in staff_client.session


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"typed_name": "Someone Else"},
        {"typed_name": "\x00"},
        {"typed_name": "x" * 500, "statements": ["99", "abc"], "shown_sha256": "z" * 100},
    ],
)
def test_bad_input_on_the_locked_page_signs_nothing(staff_client, data):
    patient, v = locked(staff_client)
    response = staff_client.post(reverse("desk_patient_signing"), data)
    assert response.status_code in (200, 400)
    assert not Consent.objects.filter(patient=patient).exists()
    assert LOCK_KEY in staff_client.session


def test_a_changed_text_is_refused_on_the_locked_page(staff_client):
    patient, v = locked(staff_client)
    response = staff_client.post(
        reverse("desk_patient_signing"), sign_data(patient, v, shown_sha256="0" * 64)
    )
    assert response.status_code == 200
    assert not Consent.objects.filter(patient=patient).exists()


def test_without_a_lock_the_locked_pages_lead_home(staff_client, patient_client):
    for client in (staff_client, patient_client):
        assert client.get(reverse("desk_patient_signing"))["Location"] == reverse("home")
        assert client.post(reverse("desk_unlock"), {"password": PASSWORD}).status_code == 302


def test_only_staff_who_take_signatures_hand_over(patient_client):
    patient = PatientFactory(consents=False)
    url = reverse("consent_desk_hand_over", args=[patient.pk, treatment().pk])
    assert patient_client.post(url).status_code == 403
    assert LOCK_KEY not in patient_client.session


def test_the_locked_page_stays_within_its_queries(staff_client, django_assert_max_num_queries):
    locked(staff_client)
    with django_assert_max_num_queries(8):
        assert staff_client.get(reverse("desk_patient_signing")).status_code == 200


# --- The patient's signatures and a withdrawal at the desk ---------------------------------


def test_staff_see_every_signature_with_channel_witness_and_clinic_time(staff_client):
    from consents.services import withdraw_consent
    from tests.factories import NOW

    patient, v = locked(staff_client)
    staff_client.post(reverse("desk_patient_signing"), sign_data(patient, v))
    staff_client.post(reverse("desk_unlock"), {"password": PASSWORD})
    consent = Consent.objects.get(patient=patient)
    detail = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert reverse("patient_consents", args=[patient.pk]) in detail
    html = staff_client.get(reverse("patient_consents", args=[patient.pk])).content.decode()
    assert f'id="consent-{consent.pk}"' in html
    assert "Monday 4 January 2027 at 09:00 Berlin time" in html
    assert "At the front desk" in html and staff_client.user.get_full_name() in html
    withdraw_url = reverse("consent_desk_withdraw", args=[patient.pk, consent.pk])
    assert withdraw_url in html
    withdraw_consent(consent=consent, withdrawn_by=staff_client.user, reason="Moved", now=NOW)
    html = staff_client.get(reverse("patient_consents", args=[patient.pk])).content.decode()
    assert "Withdrawn" in html and "Moved" in html and withdraw_url not in html


def test_a_withdrawal_at_the_desk_needs_a_reason_and_records_the_staff_member(staff_client):
    patient = PatientFactory()  # signed the current consents
    consent = Consent.objects.filter(patient=patient).first()
    url = reverse("consent_desk_withdraw", args=[patient.pk, consent.pk])
    for data in ({}, {"reason": "   "}, {"reason": "x" * 3000}, {"reason": "\x00"}):
        response = staff_client.post(url, data)
        assert response.status_code in (200, 400)
    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    response = staff_client.post(url, {"reason": "Told us at the desk"})
    assert response["Location"] == reverse("patient_consents", args=[patient.pk])
    consent.refresh_from_db()
    assert (consent.withdrawn_by, consent.withdrawal_reason) == (
        staff_client.user,
        "Told us at the desk",
    )
    # Twice: refused in words, no 500.
    assert staff_client.post(url, {"reason": "again"}).status_code == 200
    # Another patient's consent under this patient's address: 404.
    other = PatientFactory()
    other_consent = Consent.objects.filter(patient=other).first()
    url = reverse("consent_desk_withdraw", args=[patient.pk, other_consent.pk])
    assert staff_client.post(url, {"reason": "x"}).status_code == 404


def test_patients_neither_list_nor_withdraw_at_the_desk(patient_client):
    from consents.services import withdraw_consent
    from tests.factories import NOW

    patient = PatientFactory()
    consent = Consent.objects.filter(patient=patient).first()
    assert patient_client.get(reverse("patient_consents", args=[patient.pk])).status_code == 403
    url = reverse("consent_desk_withdraw", args=[patient.pk, consent.pk])
    assert patient_client.post(url, {"reason": "x"}).status_code == 403
    # Nor through the service, for another patient's consent.
    with pytest.raises(PermissionDenied):
        withdraw_consent(consent=consent, withdrawn_by=patient_client.user, reason="x", now=NOW)


def test_the_consents_page_stays_within_its_queries(staff_client, django_assert_max_num_queries):
    patient = PatientFactory()
    for _ in range(3):  # withdrawn and signed again: more rows, no more queries
        from consents.services import withdraw_consent
        from tests.factories import sign_current_consents

        for c in Consent.objects.filter(patient=patient, withdrawn_at__isnull=True):
            withdraw_consent(consent=c, withdrawn_by=staff_client.user, reason="r", now=c.signed_at)
        sign_current_consents(patient)
    # 7: one more for the Inbox's unread count in the navigation (as the other pins).
    with django_assert_max_num_queries(7):
        assert staff_client.get(reverse("patient_consents", args=[patient.pk])).status_code == 200


def test_the_locked_page_stays_when_the_record_is_merged_meanwhile(staff_client):
    from patients.models import Patient
    from tests.factories import NOW

    patient, v = locked(staff_client)
    kept = PatientFactory()
    Patient.objects.filter(pk=patient.pk).update(merged_into=kept, merged_at=NOW)
    response = staff_client.get(reverse("desk_patient_signing"))
    assert response.status_code == 200 and b'id="sign-consent"' in response.content
