"""The intake questionnaire: versions, medication lines, the NSAID self-declaration, the
clinician's review, the reconfirmation, and the rule completing a session asks
(`intake_required`, patients.intake.intake_problem)."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from accounts import roles
from patients import intake
from patients.models import IntakeMedication, IntakeReconfirmation, IntakeVersion, Patient
from tests.factories import (
    NOW,
    PatientFactory,
    ProductLotFactory,
    UserFactory,
    at,
    book,
    clinician,
    pending_intake,
    reconfirm,
    staff,
)
from treatments import services

pytestmark = pytest.mark.django_db


def portal_client(patient) -> Client:
    user = User.objects.create_user(username=patient.email.lower(), email=patient.email)
    user.groups.add(Group.objects.get(name=roles.PATIENT))
    patient.user = user
    patient.save(update_fields=["user"])
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def answers(**overrides):
    data = {
        "medical_history": "Hypertension since 2019",
        "allergies": "Penicillin",
        "smoking": "former",
        "alcohol": "occasional",
        "previous_hair_treatments": "Minoxidil 2022-2023",
        "goals": "Thicker crown",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "40",
        "lines-0-name": "Ramipril",
        "lines-0-dose": "5 mg daily",
        "lines-0-since": "2019",
        "lines-1-name": "Vitamin D",
        "lines-1-dose": "1000 IU",
        "lines-1-since": "",
        "lines-2-name": "",
        "lines-2-dose": "",
        "lines-2-since": "",
    }
    data.update(overrides)
    return data


def complete(session, *, now=None):
    return services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=now or session.ends_at,
    )


@pytest.fixture
def patient(frozen):
    return PatientFactory(intake=False)


class TestPortal:
    def test_submission_stores_structured_lines(self, patient):
        client = portal_client(patient)
        response = client.post(reverse("portal_intake"), answers())
        assert response.status_code == 302
        version = IntakeVersion.objects.get(patient=patient)
        assert version.number == 1 and version.reviewed_at is None
        assert version.submitted_by == client.user
        assert version.smoking == "former" and version.goals == "Thicker crown"
        assert [m.as_tuple() for m in version.medications.all()] == [
            ("Ramipril", "5 mg daily", "2019"),
            ("Vitamin D", "1000 IU", ""),
        ]

    def test_a_second_submission_is_a_new_version_the_first_untouched(self, patient):
        client = portal_client(patient)
        client.post(reverse("portal_intake"), answers())
        client.post(reverse("portal_intake"), answers(**{"lines-1-DELETE": "on"}))
        first, second = IntakeVersion.objects.filter(patient=patient).order_by("number")
        assert second.number == 2
        assert first.medications.count() == 2
        assert [m.name for m in second.medications.all()] == ["Ramipril"]
        with pytest.raises(ValidationError):
            first.goals = "rewritten"
            first.save()

    def test_the_page_is_filled_in_from_the_newest_version(self, patient):
        client = portal_client(patient)
        client.post(reverse("portal_intake"), answers())
        page = client.get(reverse("portal_intake")).content.decode()
        assert 'value="Ramipril"' in page and "Thicker crown" in page
        assert page.count('name="lines-') >= 3 * 4  # two lines typed + two empty ones

    def test_add_a_line_keeps_everything_typed_and_saves_nothing(self, patient):
        client = portal_client(patient)
        response = client.post(reverse("portal_intake"), answers(add_line="1"))
        assert response.status_code == 200
        page = response.content.decode()
        assert 'value="Ramipril"' in page and 'value="Vitamin D"' in page
        assert "Thicker crown" in page
        assert 'name="lines-3-name"' in page  # one more than the three posted
        assert not IntakeVersion.objects.filter(patient=patient).exists()

    def test_a_line_without_a_name_is_kept_and_asked_about(self, patient):
        client = portal_client(patient)
        response = client.post(
            reverse("portal_intake"), answers(**{"lines-2-dose": "20 mg", "lines-2-since": "May"})
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert "Name the medicine of this line" in page
        assert 'value="20 mg"' in page
        assert not IntakeVersion.objects.filter(patient=patient).exists()

    @pytest.mark.parametrize(
        "overrides",
        [
            {"lines-0-name": "x" * 10_000},
            {"goals": "x" * 10_000},
            {"medical_history": "nul\x00byte"},
            {"lines-0-name": "nul\x00"},
            {"smoking": "sometimes"},
            {"lines-TOTAL_FORMS": "100000"},
            {"lines-TOTAL_FORMS": "-1"},
            {"lines-TOTAL_FORMS": "x"},
            {"takes_prescribed_nsaid": "on", "prescribed_nsaid": ""},
            {"goals": "\u202eevil"},
        ],
    )
    def test_bad_input_is_refused_without_a_500(self, patient, overrides):
        client = portal_client(patient)
        response = client.post(reverse("portal_intake"), answers(**overrides))
        assert response.status_code in (200, 400)  # NUL: the middleware's 400
        assert not IntakeVersion.objects.filter(patient=patient).exists()

    def test_empty_lines_are_no_lines(self, patient):
        client = portal_client(patient)
        data = answers(**{"lines-0-name": "", "lines-0-dose": "", "lines-0-since": ""})
        data.update({"lines-1-name": "", "lines-1-dose": "", "lines-1-since": ""})
        assert client.post(reverse("portal_intake"), data).status_code == 302
        assert IntakeMedication.objects.filter(version__patient=patient).count() == 0

    def test_a_patient_sees_only_their_own_intake(self, patient):
        other = PatientFactory(intake=False)
        pending_intake(other, goals="Other's secret goal")
        client = portal_client(patient)
        page = client.get(reverse("portal_intake")).content.decode()
        assert "secret goal" not in page
        # Confirming confirms nothing of another's: the patient has no intake yet.
        client.post(reverse("portal_intake_confirm"))
        assert not IntakeReconfirmation.objects.exists()

    def test_staff_cannot_use_the_portal_form(self, staff_client):
        assert staff_client.get(reverse("portal_intake")).status_code == 403

    def test_nothing_changed_records_a_reconfirmation_with_its_time(self, patient, frozen):
        version = pending_intake(patient)
        client = portal_client(patient)
        response = client.post(reverse("portal_intake_confirm"))
        assert response.status_code == 302
        confirmation = IntakeReconfirmation.objects.get()
        assert confirmation.version == version and confirmation.confirmed_at == NOW
        assert confirmation.confirmed_by == client.user
        assert IntakeVersion.objects.filter(patient=patient).count() == 1  # not re-typed


class TestNsaidDeclaration:
    def test_the_declaration_sets_the_flag_with_the_reason_on_record(self, patient):
        client = portal_client(patient)
        client.post(
            reverse("portal_intake"),
            answers(takes_prescribed_nsaid="on", prescribed_nsaid="Aspirin 100 mg daily"),
        )
        patient.refresh_from_db()
        assert patient.takes_prescribed_nsaid
        assert patient.prescribed_nsaid == "Aspirin 100 mg daily"
        change = patient.changes.get()
        assert change.changed_by == client.user
        assert "intake version 1" in change.reason

    def test_then_short_notice_booking_waits_for_the_clinicians_decision(self, patient):
        pending_intake(patient, takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        patient.refresh_from_db()
        soon = date(2027, 1, 5)  # the NSAID pause has begun: short notice
        with pytest.raises(ValidationError) as refused:
            book(patient, soon, nsaid_free_confirmed=True)
        assert refused.value.code == "nsaid_review_required"
        session = book(patient, soon, await_nsaid_decision=True)
        assert session.nsaid_decision_awaited

    def test_a_later_version_without_it_does_not_clear_the_flag(self, patient):
        pending_intake(patient, takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        pending_intake(patient)
        patient.refresh_from_db()
        assert patient.takes_prescribed_nsaid


class TestReview:
    def test_a_clinician_reviews_on_the_patient_page(self, patient, clinician_client):
        version = pending_intake(patient)
        page = clinician_client.get(reverse("patient_detail", args=[patient.pk]))
        assert 'id="intake-pending"' in page.content.decode()
        assert 'id="intake-review"' in page.content.decode()
        response = clinician_client.post(reverse("intake_review", args=[version.pk]))
        assert response.status_code == 302
        version.refresh_from_db()
        assert version.reviewed_by == clinician_client.user and version.reviewed_at == NOW

    def test_reception_may_not(self, patient, staff_client):
        version = pending_intake(patient)
        page = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert 'id="intake-pending"' in page and 'id="intake-review"' not in page
        assert staff_client.post(reverse("intake_review", args=[version.pk])).status_code == 403
        with pytest.raises(PermissionDenied):
            intake.review_intake(version=version, reviewed_by=staff())
        version.refresh_from_db()
        assert version.reviewed_at is None

    def test_a_patient_may_not(self, patient):
        version = pending_intake(patient)
        client = portal_client(patient)
        assert client.post(reverse("intake_review", args=[version.pk])).status_code == 403

    def test_only_the_newest_version_and_only_once(self, patient):
        first = pending_intake(patient)
        second = pending_intake(patient, goals="More")
        with pytest.raises(ValidationError) as refused:
            intake.review_intake(version=first, reviewed_by=clinician())
        assert refused.value.code == "not_latest"
        intake.review_intake(version=second, reviewed_by=clinician())
        with pytest.raises(ValidationError) as refused:
            intake.review_intake(version=second, reviewed_by=clinician())
        assert refused.value.code == "already_reviewed"

    def test_the_page_shows_what_changed_since_the_last_review(self, patient, clinician_client):
        first = pending_intake(patient, goals="Thicker crown")
        intake.review_intake(version=first, reviewed_by=clinician())
        intake.submit_intake(
            patient=patient,
            submitted_by=UserFactory(),
            answers={"smoking": "current", "alcohol": "none", "goals": "Thicker crown"},
            medications=[("Finasteride", "1 mg", "Dec 2026")],
        )
        newest = intake.newest_version(patient)
        diff = intake.diff_since_review(newest)
        assert diff.since == first
        assert diff.answers == [("Smoking", "I have never smoked", "I smoke")]
        assert diff.added == [("Finasteride", "1 mg", "Dec 2026")]
        assert diff.removed == [("Vitamin D", "1000 IU", "2024")]
        page = clinician_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert 'id="intake-diff"' in page
        assert "Medicine added: Finasteride" in page
        assert "Medicine no longer listed: Vitamin D" in page

    def test_no_diff_once_reviewed_or_before_any_review(self, patient):
        version = pending_intake(patient)
        assert intake.diff_since_review(version) is None  # all of it is new
        intake.review_intake(version=version, reviewed_by=clinician())
        version.refresh_from_db()
        assert intake.diff_since_review(version) is None


class TestCompletingNeedsTheIntake:
    def test_a_first_session_without_an_intake_is_refused(self, patient, clinician_client):
        session = book(patient, date(2027, 1, 4), hour=10, now=at(date(2026, 12, 1)))
        page = clinician_client.get(reverse("session_detail", args=[session.pk])).content.decode()
        assert 'id="intake-required"' in page  # the desk sees it before the day
        with pytest.raises(ValidationError) as refused:
            complete(session)
        assert refused.value.code == "intake_required"
        assert refused.value.params["missing"] == "intake"

    def test_an_unreviewed_intake_is_refused_then_reviewed_passes(self, patient):
        session = book(patient, date(2027, 3, 10))
        version = pending_intake(patient)
        with pytest.raises(ValidationError) as refused:
            complete(session)
        assert refused.value.code == "intake_required"
        assert refused.value.params["missing"] == "review"
        intake.review_intake(version=version, reviewed_by=clinician())
        assert complete(session).status == "completed"

    def test_a_newer_unreviewed_version_is_refused_though_an_older_was_reviewed(self, patient):
        session = book(patient, date(2027, 3, 10))
        intake.review_intake(version=pending_intake(patient), reviewed_by=clinician())
        pending_intake(patient, goals="changed my mind")
        with pytest.raises(ValidationError) as refused:
            complete(session)
        assert refused.value.params["missing"] == "review"

    def test_completing_through_the_page_shows_the_refusal(self, patient, clinician_client):
        session = book(patient, date(2027, 1, 4), hour=8, now=at(date(2026, 12, 1)))
        lot = ProductLotFactory()
        response = clinician_client.post(
            reverse("session_complete", args=[session.pk]),
            {"lot": lot.pk, "vials": "1", "notes": "", "side_effects": ""},
        )
        assert response.status_code == 200
        assert "has not filled in the intake questionnaire" in response.content.decode()
        session.refresh_from_db()
        assert session.status != "completed"


class TestLaterSessions:
    """A later session needs the newest version reviewed and current since the previous
    session's completion: submitted after it, or reconfirmed after it."""

    @pytest.fixture
    def held(self, patient):
        intake.review_intake(version=pending_intake(patient), reviewed_by=clinician())
        first = book(patient, date(2026, 6, 1), now=at(date(2026, 5, 1)))
        first = complete(first)
        later = book(patient, date(2027, 3, 10))
        return first, later

    def test_without_a_reconfirmation_it_is_refused(self, held, clinician_client):
        _, later = held
        page = clinician_client.get(reverse("session_detail", args=[later.pk])).content.decode()
        assert 'id="intake-required"' in page
        with pytest.raises(ValidationError) as refused:
            complete(later)
        assert refused.value.code == "intake_required"
        assert refused.value.params["missing"] == "reconfirmation"

    def test_a_reconfirmation_before_the_previous_session_does_not_count(self, held):
        first, later = held
        reconfirm(later.patient, at=first.completed_at - timedelta(minutes=1))
        reconfirm(later.patient, at=first.completed_at)  # the boundary: not after it
        with pytest.raises(ValidationError):
            complete(later)

    def test_a_reconfirmation_since_the_previous_session_passes(self, held):
        first, later = held
        reconfirm(later.patient, at=first.completed_at + timedelta(seconds=1))
        assert complete(later).status == "completed"

    def test_a_new_version_since_then_needs_its_review_and_then_passes(self, held):
        _, later = held
        newer = pending_intake(later.patient, goals="New goals", now=NOW)
        with pytest.raises(ValidationError) as refused:
            complete(later)
        assert refused.value.params["missing"] == "review"
        intake.review_intake(version=newer, reviewed_by=clinician())
        assert complete(later).status == "completed"

    def test_a_reconfirmation_of_a_version_then_replaced_needs_the_new_review(self, held):
        first, later = held
        reconfirm(later.patient, at=first.completed_at + timedelta(days=1))
        pending_intake(later.patient, goals="Another")
        with pytest.raises(ValidationError):
            complete(later)


def test_reconfirming_without_any_intake_is_refused(patient):
    with pytest.raises(ValidationError) as refused:
        intake.reconfirm_intake(patient=patient, confirmed_by=UserFactory())
    assert refused.value.code == "intake_missing"


def test_the_patients_record_is_unchanged_without_a_declaration(patient):
    pending_intake(patient)
    assert not Patient.objects.get(pk=patient.pk).takes_prescribed_nsaid
    assert not patient.changes.exists()


def test_the_portal_page_issues_a_constant_number_of_queries(
    patient, django_assert_max_num_queries
):
    """Pinned (8): the session, the user, the patient, the newest version with its lines and
    reconfirmations, the access log's INSERT; more versions and lines cost nothing more."""
    client = portal_client(patient)
    client.get(reverse("portal_intake"))  # warm the session

    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("portal_intake")).status_code == 200
        return len(ctx.captured_queries)

    pending_intake(patient)
    few = queries()
    for n in range(4):
        version = pending_intake(patient, goals=f"goal {n}")
        reconfirm(patient, at=NOW + timedelta(minutes=n))
        IntakeMedication.objects.bulk_create(
            IntakeMedication(version=version, position=10 + k, name=f"M{k}") for k in range(5)
        )
    assert queries() == few
    with django_assert_max_num_queries(PORTAL_INTAKE_QUERIES):
        client.get(reverse("portal_intake"))


PORTAL_INTAKE_QUERIES = 8


def test_the_subject_access_export_carries_every_version(patient):
    from audit.subject_access import subject_access_report

    first = pending_intake(patient)
    intake.review_intake(version=first, reviewed_by=clinician())
    reconfirm(patient, at=NOW)
    pending_intake(patient, goals="Later goals")
    report = subject_access_report(patient, photo_hashes=False)
    assert [v["version"] for v in report["intake"]] == [1, 2]
    assert report["intake"][0]["medications"] == [
        {"name": "Vitamin D", "dose": "1000 IU", "since": "2024"}
    ]
    assert report["intake"][0]["reviewed_by"] and len(report["intake"][0]["reconfirmed_at"]) == 1
    assert (
        report["intake"][1]["goals"] == "Later goals" and report["intake"][1]["reviewed_at"] is None
    )
