"""A patient's data on request (issue 13, item 8): everything the clinic holds about one
patient, as JSON and as a printable page, for clinic admins only."""

import hashlib
import json
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from accounts import roles
from audit.subject_access import SECTION_TITLES, subject_access_report
from patients import services as patient_services
from reminders.models import DeliveryAttempt, Reminder
from tests.factories import (
    PatientFactory,
    ProductLotFactory,
    UserFactory,
    at,
    book,
    clinician,
    reconfirm,
)
from tests.test_query_counts import photo
from treatments import services
from treatments.merges import merge_patients
from treatments.models import ChangeRequest, FollowUpPhoto, SideEffectReport

pytestmark = pytest.mark.django_db


def held_session(patient, lot, *, notes):
    """A session of `patient` held on 1 October 2026, completed, amended, with its 7-day
    check recorded (with a photo) and amended."""
    doctor = clinician(first_name="Dora", last_name="Doctor")
    session = book(
        patient,
        date(2026, 10, 1),
        clinician_user=doctor,
        now=at(date(2026, 9, 1)),
        nsaid_decision="Continue aspirin, agreed with cardiology"
        if patient.takes_prescribed_nsaid
        else "",
    )
    # Its completion time is the same for each of the test's sessions: a later one needs the
    # patient's "nothing changed" after it.
    reconfirm(patient, at=session.ends_at + timedelta(seconds=1))
    session = services.complete_session(
        session=session, vials=[(lot, 1)], completed_by=doctor, notes=notes, now=session.ends_at
    )
    session = services.amend_session_record(
        session=session,
        amended_by=doctor,
        reason="Second vial forgotten",
        expected_version=1,
        notes=notes,
        side_effects="",
        vials=[(lot, 2)],
        now=session.ends_at + timedelta(hours=2),
    )
    follow_up = session.follow_ups.get(kind="aftercare_check")
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=doctor,
        notes=f"{notes}: healing well",
        photos=[("top", photo())],
        now=at(date(2026, 10, 8)),
    )
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=doctor,
        notes=f"{notes}: healing well, no redness",
        reason="Redness was the lighting",
        now=at(date(2026, 10, 9)),
    )
    return session


@pytest.fixture
def patient(frozen):
    patient = PatientFactory(
        first_name="Ada",
        last_name="Subject",
        medications="Finasteride 1 mg",
        takes_prescribed_nsaid=True,
        prescribed_nsaid="Aspirin 100 mg daily",
    )
    session = held_session(patient, ProductLotFactory(lot_number="LOT-ADA"), notes="Ada's notes")
    SideEffectReport.objects.create(patient=patient, session=session, description="Ada itches")
    later = book(patient, date(2027, 4, 20))
    ChangeRequest.objects.create(
        patient=patient, session=later, kind="reschedule", message="Ada prefers Fridays"
    )
    reminder = Reminder.objects.filter(session__patient=patient).order_by("id").first()
    DeliveryAttempt.objects.create(reminder=reminder, succeeded=False, error="Ada's mailbox full")
    patient_services.update_patient(
        patient=patient,
        changed_by=clinician(),
        data={"medications": "Finasteride 5 mg"},
        reason="Ada's dose raised",
    )
    patient.refresh_from_db()
    return patient


@pytest.fixture
def other(frozen):
    """Another patient with data of every kind: none of it may reach the first's export."""
    bob = PatientFactory(first_name="Bob", last_name="Bystander", email="bob@example.test")
    session = held_session(bob, ProductLotFactory(lot_number="LOT-BOB"), notes="Bob's notes")
    SideEffectReport.objects.create(patient=bob, session=session, description="Bob's rash")
    return bob


def export_json(client, patient):
    return client.get(reverse("patient_export_json", args=[patient.pk]))


class TestReport:
    def test_every_section_is_there_with_the_patients_data(self, patient, other):
        report = subject_access_report(patient)
        assert list(report) == list(SECTION_TITLES)
        assert report["about"]["patient_id"] == patient.pk
        assert report["about"]["clinic_time_zone"] == "Europe/Berlin"
        assert report["record"]["last_name"] == "Subject"
        assert report["record"]["medications"] == "Finasteride 5 mg"
        assert "calendar_token" not in report["record"]  # the feed's secret stays out
        (change,) = report["record_changes"]
        assert change["changes"]["medications"] == {
            "before": "Finasteride 1 mg",
            "after": "Finasteride 5 mg",
        }
        assert change["reason"] == "Ada's dose raised"

        held, later = report["sessions"]
        assert held["status"] == "Completed" and later["status"] == "Scheduled"
        assert held["starts_at"].utcoffset() == timedelta(hours=2)  # Berlin summer time
        assert str(held["starts_at"].tzinfo) == "Europe/Berlin"
        assert held["clinician"] == "Dora Doctor"
        assert held["record_version"] == 2
        assert [(v["lot_number"], v["vials"]) for v in report["vials_used"]] == [("LOT-ADA", 2)]
        assert report["vials_used"][0]["expiry_date"] == date(2030, 12, 31)
        assert [(a["version"], a["reason"]) for a in report["session_record_amendments"]] == [
            (1, ""),
            (2, "Second vial forgotten"),
        ]
        assert [d["decision"] for d in report["nsaid_decisions"]] == [
            "Continue aspirin, agreed with cardiology"
        ]
        check = next(f for f in report["follow_ups"] if f["kind"] == "Aftercare check")
        assert check["notes"] == "Ada's notes: healing well, no redness"
        assert [(r["version"], r["notes"], r["reason"]) for r in check["revisions"]] == [
            (1, "Ada's notes: healing well", ""),
            (2, "Ada's notes: healing well, no redness", "Redness was the lighting"),
        ]
        (shot,) = report["photos"]
        stored = FollowUpPhoto.objects.get(pk=shot["id"])
        with stored.image.open("rb") as stream:
            assert shot["sha256"] == hashlib.sha256(stream.read()).hexdigest()
        assert [r["description"] for r in report["side_effect_reports"]] == ["Ada itches"]
        assert [r["message"] for r in report["change_requests"]] == ["Ada prefers Fridays"]
        assert report["messages"]
        assert all(m["kind"] and m["channel"] and m["status"] for m in report["messages"])
        attempts = [a for m in report["messages"] for a in m["delivery_attempts"]]
        assert [(a["succeeded"], a["error"]) for a in attempts] == [(False, "Ada's mailbox full")]

    def test_the_queries_do_not_grow_with_the_data(self, patient, django_assert_max_num_queries):
        with CaptureQueriesContext(connection) as few:
            subject_access_report(patient)
        # 13 + the history and the access log + the intake (versions, lines, reconfirmations)
        # 18 + the SMS received (issue 17) + the waitlist (its entries; their offers, if any)
        assert len(few.captured_queries) <= 20
        more = PatientFactory()
        for year in (2021, 2022, 2023):
            held_session(more, ProductLotFactory(), notes=f"{year}")
            more.sessions.filter(local_date=date(2026, 10, 1)).update(
                starts_at=at(date(year, 1, 5)),
                ends_at=at(date(year, 1, 5)) + timedelta(hours=1),
                local_date=date(year, 1, 5),
                gap_until=date(year, 7, 5),
            )
        with django_assert_max_num_queries(len(few.captured_queries)):
            report = subject_access_report(more)
        assert len(report["sessions"]) == 3 and len(report["photos"]) == 3


class TestPages:
    def test_json_download(self, patient, other, clinic_admin_client):
        response = export_json(clinic_admin_client, patient)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["Content-Disposition"] == (
            f'attachment; filename="patient-{patient.pk}-2027-01-04.json"'
        )
        assert "no-store" in response["Cache-Control"]
        data = json.loads(response.content)
        assert list(data) == list(SECTION_TITLES)
        assert data["sessions"][0]["starts_at"].startswith("2026-10-01T10:00:00")
        assert data["sessions"][0]["starts_at"].endswith("+02:00")
        assert data["photos"][0]["sha256"]
        text = response.content.decode()
        for theirs in ("Bob", "Bystander", "bob@example.test", "LOT-BOB", "Bob's rash"):
            assert theirs not in text
        assert "LOT-ADA" in text and "Ada itches" in text

    def test_history_and_access_log_are_in_it(self, patient, other, clinic_admin_client):
        """Who changed the record and who looked at it (the database's history and the
        access log) are the patient's data too; the export is itself a look."""
        clinic_admin_client.get(reverse("patient_detail", args=[patient.pk]))
        data = json.loads(export_json(clinic_admin_client, patient).content)
        looks = [(a["by"], a["looked_at"]) for a in data["access_log"]]
        me = clinic_admin_client.user.username
        assert looks[0] == (me, "Export of all the patient's data (access request)")
        assert (me, "Patient page") in looks
        records = [e for e in data["history"] if e["what"] == "Patient record"]
        assert records[-1]["action"] == "created" and records[-1]["object_id"] == patient.pk
        assert {e["what"] for e in data["history"]} >= {"Session", "Follow-up", "Vials used"}
        fields = {c["field"] for e in records for c in e["changes"]}
        assert "medications" in fields
        assert all("ip" not in a and "path" not in a for a in data["access_log"])
        page = clinic_admin_client.get(reverse("patient_export", args=[patient.pk]))
        assert "Who looked at the record" in page.content.decode()

    def test_printable_page(self, patient, other, clinic_admin_client):
        response = clinic_admin_client.get(reverse("patient_export", args=[patient.pk]))
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        page = response.content.decode()
        for name, title in SECTION_TITLES.items():
            assert f'id="section-{name}"' in page and escape(str(title)) in page
        assert "Save as PDF" in page
        assert reverse("patient_export_json", args=[patient.pk]) in page
        shot = FollowUpPhoto.objects.get(follow_up__session__patient=patient)
        assert reverse("follow_up_photo", args=[shot.pk]) in page
        assert "Thursday 1 October 2026 at 10:00 Berlin time" in page
        assert "Ada&#x27;s dose raised" in page and "LOT-ADA" in page
        for theirs in ("Bob", "Bystander", "LOT-BOB", "Bob&#x27;s rash"):
            assert theirs not in page

    def test_the_patient_page_links_to_it_for_clinic_admins_only(
        self, patient, clinic_admin_client, staff_client, clinician_client
    ):
        url = reverse("patient_detail", args=[patient.pk])
        assert 'id="export-data"' in clinic_admin_client.get(url).content.decode()
        assert 'id="export-data"' not in staff_client.get(url).content.decode()
        assert 'id="export-data"' not in clinician_client.get(url).content.decode()

    @pytest.mark.parametrize("role_client", ["staff_client", "clinician_client", "patient_client"])
    def test_other_roles_are_refused(self, patient, role_client, request):
        client = request.getfixturevalue(role_client)
        for name in ("patient_export", "patient_export_json"):
            response = client.get(reverse(name, args=[patient.pk]))
            assert response.status_code == 403, (role_client, name)

    def test_signed_out_goes_to_sign_in(self, patient, client):
        response = client.get(reverse("patient_export_json", args=[patient.pk]))
        assert response.status_code == 302 and "/accounts/login/" in response.url

    def test_an_unknown_patient_is_a_404(self, clinic_admin_client):
        for name in ("patient_export", "patient_export_json"):
            assert clinic_admin_client.get(reverse(name, args=[999_999])).status_code == 404


class TestMergedRecords:
    """The kept record's export has what moved to it and each duplicate's own record; the
    duplicate's export is its own record, pointing to the kept one."""

    @pytest.fixture
    def merged(self, patient):
        duplicate = PatientFactory(first_name="Ada", last_name="Subject", email="ada2@example.test")
        patient_services.update_patient(
            patient=duplicate, changed_by=clinician(), data={"allergies": "Latex"}
        )
        SideEffectReport.objects.create(patient=duplicate, description="Reported on the copy")
        admin = UserFactory(role=roles.CLINIC_ADMIN)
        merge_patients(duplicate=duplicate, kept=patient, merged_by=admin)
        duplicate.refresh_from_db()
        return duplicate

    def test_the_kept_record_holds_the_duplicates(self, patient, merged):
        report = subject_access_report(patient)
        assert report["about"]["merged_records"] == [merged.pk]
        assert [r["id"] for r in report["merged_records"]] == [merged.pk]
        assert report["merged_records"][0]["allergies"] == "Latex"
        assert {c["record_id"] for c in report["record_changes"]} == {patient.pk, merged.pk}
        assert "Reported on the copy" in [r["description"] for r in report["side_effect_reports"]]

    def test_the_duplicate_points_to_the_kept_record(self, patient, merged):
        report = subject_access_report(merged)
        assert report["about"]["merged_into"] == patient.pk
        assert f"record no. {patient.pk}" in report["about"]["merged_note"]
        assert report["record"]["allergies"] == "Latex"
        assert report["sessions"] == [] and report["side_effect_reports"] == []
        assert {c["record_id"] for c in report["record_changes"]} == {merged.pk}
        assert "Ada's dose raised" not in json.dumps(report, default=str)
