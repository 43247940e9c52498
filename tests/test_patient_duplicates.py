"""Duplicate patients (issue 12, item 6): registering the same name and date of birth warns
and links to the existing record; a clinic admin merges a duplicate into the kept record,
moving its sessions, follow-ups, reports and requests, under the six-month gap rule."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts import roles
from patients.models import Patient, PatientChange
from patients.services import register_patient
from reminders.models import Reminder
from tests.factories import NOW, PatientFactory, ProductLotFactory, UserFactory, book, staff
from treatments import services
from treatments.merges import merge_patients
from treatments.models import ChangeRequest, FollowUp, SideEffectReport

pytestmark = pytest.mark.django_db


def register(**overrides):
    data = {
        "first_name": "Jonas",
        "last_name": "Müller",
        "date_of_birth": date(1980, 2, 29),
        "email": "jonas@example.test",
    }
    return register_patient(**{**data, **overrides})


@pytest.fixture
def admin():
    return UserFactory(role=roles.CLINIC_ADMIN)


class TestRegistration:
    def test_the_same_name_and_birth_date_is_refused_until_confirmed(self):
        first = register()
        with pytest.raises(ValidationError) as refused:
            register(first_name="JONAS ", last_name="müller", email="j2@example.test")
        assert refused.value.code == "possible_duplicate"
        assert refused.value.params["patient_ids"] == [first.pk]
        second = register(email="j2@example.test", confirmed_not_duplicate=True)
        assert second.pk != first.pk

    def test_another_birth_date_or_name_is_no_duplicate(self):
        register()
        register(email="j2@example.test", date_of_birth=date(1980, 3, 1))
        register(email="j3@example.test", first_name="Jonah")

    def test_a_merged_away_record_is_no_duplicate(self, admin):
        kept = register()
        dup = register(email="j2@example.test", confirmed_not_duplicate=True)
        merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        with pytest.raises(ValidationError) as refused:
            register(email="j3@example.test")
        assert refused.value.params["patient_ids"] == [kept.pk]

    def test_the_page_warns_links_and_registers_once_confirmed(self, staff_client):
        existing = register()
        data = {
            "first_name": "Jonas",
            "last_name": "Müller",
            "date_of_birth": "1980-02-29",
            "email": "other@example.test",
            "time_zone": "Europe/Berlin",
            "reminders_by_email": "on",
        }
        response = staff_client.post(reverse("patient_create"), data)
        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="possible-duplicates"' in page
        assert reverse("patient_detail", args=[existing.pk]) in page
        assert 'type="checkbox" name="not_a_duplicate"' in page
        assert Patient.objects.count() == 1
        response = staff_client.post(reverse("patient_create"), {**data, "not_a_duplicate": "on"})
        assert response.status_code == 302
        assert Patient.objects.count() == 2

    def test_the_confirmation_box_is_hidden_until_needed(self, staff_client):
        page = staff_client.get(reverse("patient_create")).content.decode()
        assert 'type="hidden" name="not_a_duplicate"' in page


class TestMerge:
    def test_sessions_follow_ups_reports_and_requests_move(self, admin):
        kept = PatientFactory()
        dup = PatientFactory(first_name=kept.first_name, last_name=kept.last_name)
        done = book(dup, date(2026, 3, 2), now=NOW.replace(year=2026, month=2))
        services.complete_session(
            session=done,
            vials=[(ProductLotFactory(), 1)],
            completed_by=done.clinician,
            now=done.ends_at,
        )
        upcoming = book(dup, date(2027, 3, 10))
        report = SideEffectReport.objects.create(patient=dup, session=done, description="itch")
        request = ChangeRequest.objects.create(patient=dup, session=upcoming, kind="cancel")
        result = merge_patients(duplicate=dup, kept=kept, merged_by=admin, now=NOW)
        assert (result.sessions, result.reports, result.requests) == (2, 1, 1)
        assert set(kept.sessions.all()) == {done, upcoming}
        assert FollowUp.objects.filter(session__patient=kept).count() == (FollowUp.objects.count())
        report.refresh_from_db()
        request.refresh_from_db()
        assert report.patient == kept and request.patient == kept
        dup.refresh_from_db()
        assert dup.merged_into == kept and dup.merged_at == NOW
        assert Patient.objects.filter(pk=dup.pk).exists()  # kept, not deleted
        assert not dup.sessions.exists()
        kinds = dict(PatientChange.objects.values_list("patient_id", "kind"))
        assert kinds == {dup.pk: "merged_into", kept.pk: "merged_from"}

    def test_a_merge_breaking_the_gap_is_refused_naming_the_clash(self, admin):
        kept = PatientFactory()
        dup = PatientFactory()
        book(kept, date(2027, 3, 10))
        book(dup, date(2027, 5, 3))
        with pytest.raises(ValidationError) as refused:
            merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        assert refused.value.code == "merge_gap_clash"
        message = refused.value.messages[0]
        assert "Monday 3 May 2027" in message and "Wednesday 10 March 2027" in message
        dup.refresh_from_db()
        assert dup.merged_into is None
        assert dup.sessions.count() == 1 and kept.sessions.count() == 1

    def test_the_gap_is_checked_in_both_directions_and_at_its_boundary(self, admin):
        kept = PatientFactory()
        dup = PatientFactory()
        book(dup, date(2027, 3, 10))
        book(kept, date(2027, 9, 9))  # one day short of six months after the duplicate's
        with pytest.raises(ValidationError) as refused:
            merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        assert refused.value.code == "merge_gap_clash"
        other_kept = PatientFactory()
        book(other_kept, date(2027, 9, 10))  # exactly six months: allowed
        merge_patients(duplicate=dup, kept=other_kept, merged_by=admin)
        assert other_kept.sessions.count() == 2

    def test_cancelled_sessions_do_not_block(self, admin):
        kept = PatientFactory()
        dup = PatientFactory()
        book(kept, date(2027, 3, 10))
        cancelled = book(dup, date(2027, 4, 1))
        services.cancel_session(session=cancelled, reason="ill", cancelled_by=admin, now=NOW)
        merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        assert kept.sessions.count() == 2

    def test_only_clinic_admins_merge(self):
        with pytest.raises(PermissionDenied):
            merge_patients(duplicate=PatientFactory(), kept=PatientFactory(), merged_by=staff())

    def test_no_merge_into_itself_twice_or_into_a_merged_record(self, admin):
        a, b, c = PatientFactory(), PatientFactory(), PatientFactory()
        with pytest.raises(ValidationError) as refused:
            merge_patients(duplicate=a, kept=a, merged_by=admin)
        assert refused.value.code == "same_patient"
        merge_patients(duplicate=a, kept=b, merged_by=admin)
        with pytest.raises(ValidationError) as refused:
            merge_patients(duplicate=a, kept=c, merged_by=admin)
        assert refused.value.code == "already_merged"
        with pytest.raises(ValidationError) as refused:
            merge_patients(duplicate=c, kept=a, merged_by=admin)
        assert refused.value.code == "kept_is_merged"

    def test_a_merged_record_takes_no_new_booking(self, admin):
        kept, dup = PatientFactory(), PatientFactory()
        merge_patients(duplicate=dup, kept=kept, merged_by=admin)
        with pytest.raises(ValidationError) as refused:
            book(dup, date(2027, 3, 10))
        assert refused.value.code == "patient_merged"

    def test_reminders_follow_the_kept_records_channels(self, admin):
        kept = PatientFactory(reminders_by_sms=True)
        dup = PatientFactory(reminders_by_sms=False)
        session = book(dup, date(2027, 3, 10))
        assert not Reminder.objects.filter(session=session, channel="sms").exists()
        merge_patients(duplicate=dup, kept=kept, merged_by=admin, now=NOW)
        assert Reminder.objects.filter(session=session, channel="sms", state="pending").exists()


class TestMergePage:
    def test_an_admin_merges_from_the_page(self, clinic_admin_client):
        kept = PatientFactory(first_name="Eva", last_name="Roth")
        dup = PatientFactory(first_name="Eva", last_name="Roth")
        book(dup, date(2027, 3, 10))
        url = reverse("patient_merge", args=[dup.pk])
        page = clinic_admin_client.get(url).content.decode()
        assert f"no. {kept.pk}" in page  # offered as the same person
        response = clinic_admin_client.post(url, {"kept": kept.pk, "same_person": "on"})
        assert response.status_code == 302
        assert response["Location"] == reverse("patient_detail", args=[kept.pk])
        page = clinic_admin_client.get(reverse("patient_detail", args=[dup.pk])).content
        assert b'id="merged-into"' in page
        assert kept.sessions.count() == 1

    def test_the_clash_is_shown_on_the_page(self, clinic_admin_client):
        kept, dup = PatientFactory(), PatientFactory()
        book(kept, date(2027, 3, 10))
        book(dup, date(2027, 5, 3))
        url = reverse("patient_merge", args=[dup.pk])
        response = clinic_admin_client.post(url, {"kept": kept.pk, "same_person": "on"})
        assert response.status_code == 200
        assert "less than 6 months apart" in response.content.decode()

    @pytest.mark.parametrize("kept", ["", "abc", "999999", "-1"])
    def test_bad_input_is_a_form_error(self, clinic_admin_client, kept):
        dup = PatientFactory()
        response = clinic_admin_client.post(
            reverse("patient_merge", args=[dup.pk]), {"kept": kept, "same_person": "on"}
        )
        assert response.status_code == 200

    def test_reception_may_not_merge(self, staff_client):
        kept, dup = PatientFactory(), PatientFactory()
        url = reverse("patient_merge", args=[dup.pk])
        assert staff_client.get(url).status_code == 403
        assert staff_client.post(url, {"kept": kept.pk, "same_person": "on"}).status_code == 403
        dup.refresh_from_db()
        assert dup.merged_into is None
