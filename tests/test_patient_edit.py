"""Editing a patient in the front office (issue 12, item 5): through
patients.services.update_patient, the old and new values kept with who and when, the email
under change_patient_email's rules, pending reminders re-planned when channels or zone
change."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse

from accounts import roles
from patients.models import Patient, PatientChange
from patients.services import update_patient
from reminders.models import Reminder
from tests.factories import NOW, PatientFactory, UserFactory, book, staff

pytestmark = pytest.mark.django_db


def portal_login(patient) -> User:
    user = User.objects.create_user(
        username=patient.email.lower(), email=patient.email, password="An0ther-pass-7"
    )
    user.groups.add(Group.objects.get(name=roles.PATIENT))
    patient.user = user
    patient.save(update_fields=["user"])
    return user


@pytest.fixture
def patient():
    return PatientFactory(
        first_name="Maria",
        last_name="Weber",
        email="maria@example.test",
        phone="0170 1234567",
        medications="Ramipril 5 mg",
    )


def test_the_changed_fields_are_kept_with_who_and_when(patient):
    reception = staff()
    update_patient(
        patient=patient,
        changed_by=reception,
        data={
            "phone": " +44 20 7946 0958 ",
            "medications": "Ramipril 5 mg",  # unchanged: not in the record
            "takes_prescribed_nsaid": True,
            "prescribed_nsaid": "Aspirin 100 mg daily",
        },
        now=NOW,
    )
    patient.refresh_from_db()
    assert patient.phone == "+44 20 7946 0958"
    assert patient.phone_e164 == "+442079460958"
    assert patient.prescribed_nsaid == "Aspirin 100 mg daily"
    change = PatientChange.objects.get(patient=patient)
    assert change.changed_by == reception
    assert change.changed_at == NOW
    assert change.changes == {
        "phone": ["0170 1234567", "+44 20 7946 0958"],
        "takes_prescribed_nsaid": [False, True],
        "prescribed_nsaid": ["", "Aspirin 100 mg daily"],
    }


def test_saving_without_a_change_writes_no_history(patient):
    update_patient(patient=patient, changed_by=staff(), data={"medications": "Ramipril 5 mg"})
    assert not PatientChange.objects.exists()


def test_the_prescribed_nsaid_must_be_named(patient):
    with pytest.raises(ValidationError) as refused:
        update_patient(patient=patient, changed_by=staff(), data={"takes_prescribed_nsaid": True})
    assert "prescribed_nsaid" in refused.value.error_dict
    patient.refresh_from_db()
    assert not patient.takes_prescribed_nsaid
    assert not PatientChange.objects.exists()


def test_consent_is_stamped_when_given_and_cleared_when_withdrawn(patient):
    patient.contact_consent_at = None
    patient.save()
    later = NOW + timedelta(days=1)
    update_patient(patient=patient, changed_by=staff(), data={"contact_consent": True}, now=later)
    patient.refresh_from_db()
    assert patient.contact_consent_at == later
    update_patient(patient=patient, changed_by=staff(), data={"contact_consent": True})
    patient.refresh_from_db()
    assert patient.contact_consent_at == later  # kept, not re-stamped
    update_patient(patient=patient, changed_by=staff(), data={"contact_consent": False})
    patient.refresh_from_db()
    assert patient.contact_consent_at is None
    assert PatientChange.objects.filter(patient=patient).count() == 2


def test_an_edit_over_someone_elses_save_is_refused(patient):
    opened = patient.updated_at
    update_patient(patient=patient, changed_by=staff(), data={"notes": "first"})
    with pytest.raises(ValidationError) as refused:
        update_patient(
            patient=patient,
            changed_by=staff(),
            data={"notes": "second"},
            expected_updated_at=opened,
        )
    assert refused.value.code == "changed_meanwhile"
    patient.refresh_from_db()
    assert patient.notes == "first"


def test_the_front_desk_cannot_change_an_active_portal_users_email(patient):
    portal_login(patient)
    with pytest.raises(PermissionDenied):
        update_patient(
            patient=patient,
            changed_by=staff(),
            data={"email": "someone@else.test", "notes": "changed too"},
        )
    patient.refresh_from_db()
    assert patient.email == "maria@example.test"
    assert patient.notes == ""  # one transaction: nothing of the edit is kept


def test_an_admin_changes_the_email_and_the_login_follows(patient, mailoutbox):
    user = portal_login(patient)
    admin = UserFactory(role=roles.CLINIC_ADMIN)
    with transaction.atomic():
        update_patient(patient=patient, changed_by=admin, data={"email": "Maria@New.test"})
    user.refresh_from_db()
    assert (user.username, user.email) == ("maria@new.test", "Maria@New.test")
    change = PatientChange.objects.get(patient=patient)
    assert change.changes == {"email": ["maria@example.test", "Maria@New.test"]}


def test_a_change_of_channels_re_plans_pending_reminders(patient, reference_data):
    session = book(patient, date(2027, 3, 10))
    assert not Reminder.objects.filter(session=session, channel="sms").exists()
    update_patient(patient=patient, changed_by=staff(), data={"reminders_by_sms": True}, now=NOW)
    assert Reminder.objects.filter(session=session, channel="sms", state="pending").exists()


def test_a_change_of_zone_moves_pending_reminders(patient):
    session = book(patient, date(2027, 3, 10))
    before = dict(Reminder.objects.filter(session=session).values_list("kind", "due_at"))
    update_patient(
        patient=patient, changed_by=staff(), data={"time_zone": "America/New_York"}, now=NOW
    )
    after = dict(
        Reminder.objects.filter(session=session, state="pending").values_list("kind", "due_at")
    )
    assert before and after != before


def test_the_history_is_append_only(patient):
    update_patient(patient=patient, changed_by=staff(), data={"notes": "x"})
    change = PatientChange.objects.get()
    change.note = "rewritten"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        PatientChange.objects.filter(pk=change.pk).update(note="rewritten")


class TestThePage:
    def test_the_form_opens_with_the_recorded_values(self, staff_client, patient):
        response = staff_client.get(reverse("patient_edit", args=[patient.pk]))
        assert response.status_code == 200
        form = response.context["form"]
        assert form["medications"].value() == "Ramipril 5 mg"
        assert form["phone"].value() == "0170 1234567"
        assert form["contact_consent"].value() is True

    def test_reception_edits_and_the_patient_page_shows_who_changed_what(
        self, staff_client, patient
    ):
        url = reverse("patient_edit", args=[patient.pk])
        form = staff_client.get(url).context["form"]
        data = {name: form[name].value() for name in form.fields}
        data = {k: v for k, v in data.items() if v not in (None, False)}
        data["medications"] = "Ramipril 5 mg\nAspirin 100 mg"
        data["takes_prescribed_nsaid"] = "on"
        data["prescribed_nsaid"] = "Aspirin 100 mg daily"
        # Medications were on file: changing them is an amendment, with a reason (issue 13).
        data["reason"] = "Aspirin prescribed by cardiology"
        response = staff_client.post(url, data)
        assert response.status_code == 302, response.context["form"].errors
        page = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert "Changes to the record" in page
        assert staff_client.user.get_full_name() in page
        assert "Aspirin 100 mg daily" in page
        patient.refresh_from_db()
        assert patient.takes_prescribed_nsaid

    def test_a_stale_form_is_refused_not_saved_over(self, staff_client, patient):
        url = reverse("patient_edit", args=[patient.pk])
        form = staff_client.get(url).context["form"]
        data = {k: v for k, v in ((n, form[n].value()) for n in form.fields) if v}
        Patient.objects.filter(pk=patient.pk).update(
            notes="meanwhile", updated_at=NOW + timedelta(seconds=1)
        )
        data["notes"] = "mine"
        response = staff_client.post(url, data)
        assert response.status_code == 200
        assert "changed this patient" in response.content.decode()
        patient.refresh_from_db()
        assert patient.notes == "meanwhile"

    def test_bad_hidden_values_do_not_500(self, staff_client, patient):
        url = reverse("patient_edit", args=[patient.pk])
        response = staff_client.post(url, {"loaded_at": "yesterday", "first_name": "x"})
        assert response.status_code == 200

    def test_patients_may_not_edit(self, patient_client, patient):
        response = patient_client.get(reverse("patient_edit", args=[patient.pk]))
        assert response.status_code in (302, 403)


def test_an_edit_in_the_django_admin_is_kept_in_the_history_too(frozen, patient):
    from tests.test_access_control import admin_save, signed_in

    admin = UserFactory(role=roles.CLINIC_ADMIN, is_staff=True)
    admin_save(
        signed_in(admin),
        patient,
        {"medications": "Metformin", "phone": "0170 7654321", "amendment_reason": "GP letter"},
    )
    patient.refresh_from_db()
    assert (patient.medications, patient.phone_e164) == ("Metformin", "+491707654321")
    change = PatientChange.objects.get(patient=patient)
    assert change.changed_by == admin
    assert change.changes["medications"] == ["Ramipril 5 mg", "Metformin"]
    assert change.reason == "GP letter"
