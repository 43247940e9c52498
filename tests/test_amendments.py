"""Amendments, not overwrites (issue 13, item 4): a completed session's record and a
patient's medical information are amended with a reason and an author, and every earlier
version stays."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from patients import services as patient_services
from patients.models import PatientChange
from tests.factories import PatientFactory, ProductLotFactory, at, book, clinician, staff
from treatments import selectors, services
from treatments.models import SessionRecordRevision, SessionVial, TreatmentSession

pytestmark = pytest.mark.django_db


def codes(exc: ValidationError) -> set:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


@pytest.fixture
def lot():
    return ProductLotFactory(lot_number="LOT-FIRST")


@pytest.fixture
def held(frozen, lot):
    """A session held on 1 October 2026 (before NOW), completed with 1 vial of `lot`."""
    session = book(day=date(2026, 10, 1), now=at(date(2026, 9, 20)))
    return services.complete_session(
        session=session,
        vials=[(lot, 1)],
        completed_by=session.clinician,
        notes="Scalp prepared, 4 ml",
        side_effects="",
        now=session.ends_at,
    )


def amend(session, **kwargs):
    args = {
        "session": session,
        "amended_by": session.clinician,
        "reason": "Wrong lot noted",
        "expected_version": session.record_version,
        "notes": session.notes,
        "side_effects": session.side_effects,
        "vials": [(v.lot, v.vials) for v in session.vials_used.all()],
    } | kwargs
    return services.amend_session_record(**args)


# --- A completed session's record: the service ---------------------------------------------


class TestSessionRecordService:
    def test_completing_is_version_one_and_keeps_no_revision_yet(self, held):
        assert held.record_version == 1
        assert not SessionRecordRevision.objects.exists()

    def test_a_reason_is_required(self, held):
        for reason in ("", "   \n"):
            with pytest.raises(ValidationError) as exc:
                amend(held, notes="Other", reason=reason)
            assert codes(exc.value) == {"reason_required"}
        held.refresh_from_db()
        assert held.notes == "Scalp prepared, 4 ml" and held.record_version == 1
        assert not SessionRecordRevision.objects.exists()

    def test_the_earlier_version_is_kept_and_the_new_one_is_current(self, held, lot):
        right = ProductLotFactory(lot_number="LOT-RIGHT")
        amended = amend(
            held,
            notes="Scalp prepared, 5 ml",
            side_effects="Mild redness",
            vials=[(right, 2), (right, 1)],  # lines of one lot add up, as when completing
            reason="The vial label was misread",
        )
        assert amended.record_version == 2
        held.refresh_from_db()
        assert (held.notes, held.side_effects, held.record_version) == (
            "Scalp prepared, 5 ml",
            "Mild redness",
            2,
        )
        assert list(held.vials_used.values_list("lot__lot_number", "vials")) == [("LOT-RIGHT", 3)]
        first, second = SessionRecordRevision.objects.filter(session=held).order_by("version")
        assert (first.version, first.notes, first.reason, first.recorded_by) == (
            1,
            "Scalp prepared, 4 ml",
            "",
            held.clinician,
        )
        assert first.recorded_at == held.completed_at
        assert [(v["lot_number"], v["vials"]) for v in first.vials] == [("LOT-FIRST", 1)]
        assert (second.version, second.reason, second.side_effects) == (
            2,
            "The vial label was misread",
            "Mild redness",
        )
        assert [(v["lot_number"], v["vials"]) for v in second.vials] == [("LOT-RIGHT", 3)]
        # A recall of the lot first recorded still finds the patient.
        assert list(selectors.lot_recipients(lot)) == [held]
        assert list(selectors.lot_recipients(right)) == [held]

    def test_a_second_amendment_appends_a_third_version(self, held):
        amend(held, notes="Two", reason="First fix")
        held.refresh_from_db()
        amend(held, notes="Three", reason="Second fix")
        assert list(
            SessionRecordRevision.objects.filter(session=held).values_list("version", "notes")
        ) == [(1, "Scalp prepared, 4 ml"), (2, "Two"), (3, "Three")]

    def test_a_stale_form_is_refused(self, held):
        amend(held, notes="Seen by the first", expected_version=1)
        with pytest.raises(ValidationError) as exc:
            amend(held, notes="Would overwrite unseen", expected_version=1)
        assert codes(exc.value) == {"changed_meanwhile"}
        held.refresh_from_db()
        assert held.notes == "Seen by the first"
        assert SessionRecordRevision.objects.filter(session=held).count() == 2

    def test_amended_vials_keep_the_lot_rules(self, held):
        expired = ProductLotFactory(expiry_date=date(2026, 9, 30))  # the day before
        uncertified = ProductLotFactory(certificate_issuer="")
        for bad in (expired, uncertified):
            with pytest.raises(ValidationError) as exc:
                amend(held, vials=[(bad, 1)])
            assert codes(exc.value) == {"lot_not_usable"}
        for vials in ([], [(held.vials_used.get().lot, 0)]):
            with pytest.raises(ValidationError) as exc:
                amend(held, vials=vials)
            assert codes(exc.value) == {"vials_required"}
        assert list(held.vials_used.values_list("lot__lot_number", flat=True)) == ["LOT-FIRST"]

    def test_an_amendment_that_changes_nothing_is_refused(self, held):
        with pytest.raises(ValidationError) as exc:
            amend(held)
        assert codes(exc.value) == {"nothing_changed"}

    def test_only_a_completed_session_is_amended(self, frozen, lot):
        session = book(day=date(2027, 3, 10))
        with pytest.raises(ValidationError) as exc:
            amend(session, vials=[(lot, 1)], expected_version=0)
        assert codes(exc.value) == {"invalid_status"}

    def test_the_front_desk_cannot_amend(self, held):
        with pytest.raises(PermissionDenied):
            amend(held, notes="Reception's text", amended_by=staff())
        held.refresh_from_db()
        assert held.notes == "Scalp prepared, 4 ml"

    def test_revisions_are_append_only_in_the_database(self, held):
        amend(held, notes="Fixed")
        revision = SessionRecordRevision.objects.filter(session=held).first()
        with pytest.raises(IntegrityError), transaction.atomic():
            SessionRecordRevision.objects.filter(pk=revision.pk).update(notes="rewritten")
        with pytest.raises(IntegrityError), transaction.atomic():
            SessionRecordRevision.objects.filter(pk=revision.pk).delete()
        with pytest.raises(IntegrityError), transaction.atomic():
            SessionRecordRevision.objects.create(  # an amendment without a reason
                session=held, version=9, recorded_at=held.completed_at
            )
        with pytest.raises(ProtectedError), transaction.atomic():
            TreatmentSession.objects.filter(pk=held.pk).delete()
        assert SessionRecordRevision.objects.filter(session=held).count() == 2


# --- A completed session's record: the pages -----------------------------------------------


def amend_url(session):
    return reverse("session_amend", args=[session.pk])


class TestSessionRecordPages:
    def test_the_form_opens_with_the_recorded_values(self, held, clinician_client):
        second = ProductLotFactory()
        SessionVial.objects.create(session=held, lot=second, vials=2)
        third = ProductLotFactory()  # a third line (e.g. from the admin) is not dropped
        SessionVial.objects.create(session=held, lot=third, vials=1)
        form = clinician_client.get(amend_url(held)).context["form"]
        assert form["notes"].value() == "Scalp prepared, 4 ml"
        assert form["version"].value() == 1
        lines = [
            (form[lot].value(), form[count].value())
            for lot, count in [
                ("lot", "vials"),
                ("second_lot", "second_vials"),
                ("lot_3", "vials_3"),
            ]
        ]
        assert lines == [
            (held.vials_used.get(lot__lot_number="LOT-FIRST").lot_id, 1),
            (second.pk, 2),
            (third.pk, 1),
        ]
        assert form.fields["reason"].required

    def test_amending_from_the_page(self, held, clinician_client, lot):
        right = ProductLotFactory(lot_number="LOT-RIGHT")
        data = {
            "lot": right.pk,
            "vials": 2,
            "notes": "Scalp prepared, 5 ml",
            "side_effects": "",
            "version": 1,
        }
        response = clinician_client.post(amend_url(held), data)
        assert response.status_code == 200
        form = response.context["form"]
        assert "reason" in form.errors
        assert form["notes"].value() == "Scalp prepared, 5 ml"  # what was typed stays
        held.refresh_from_db()
        assert held.record_version == 1

        response = clinician_client.post(amend_url(held), data | {"reason": "Label misread"})
        assert response.status_code == 302
        page = clinician_client.get(reverse("session_detail", args=[held.pk])).content.decode()
        assert "Record amended by Role Clinician on" in page
        assert "Berlin time (Label misread)" in page
        assert "2 × lot LOT-RIGHT" in page  # the current record
        assert "1 × lot LOT-FIRST" in page and "Scalp prepared, 4 ml" in page  # the earlier
        assert 'id="amend-record"' in page

    def test_a_stale_form_on_the_page_is_refused_not_applied(self, held, clinician_client):
        amend(held, notes="Meanwhile", reason="Other clinician")
        response = clinician_client.post(
            amend_url(held),
            {
                "lot": held.vials_used.get().lot_id,
                "vials": 1,
                "notes": "Stale",
                "version": 1,
                "reason": "Mine",
            },
        )
        assert response.status_code == 200
        assert "amended while you had it open" in str(response.context["form"].non_field_errors())
        held.refresh_from_db()
        assert held.notes == "Meanwhile"

    def test_reception_is_refused(self, held, staff_client):
        assert staff_client.get(amend_url(held)).status_code == 403
        response = staff_client.post(
            amend_url(held),
            {"lot": held.vials_used.get().lot_id, "vials": 1, "version": 1, "reason": "x"},
        )
        assert response.status_code == 403
        page = staff_client.get(reverse("session_detail", args=[held.pk])).content.decode()
        assert 'id="amend-record"' not in page
        assert not SessionRecordRevision.objects.exists()

    def test_a_session_not_completed_sends_back(self, frozen, clinician_client):
        session = book(day=date(2027, 3, 10))
        response = clinician_client.get(amend_url(session))
        assert response.status_code == 302
        assert response.url == reverse("session_detail", args=[session.pk])

    @pytest.mark.parametrize(
        "bad",
        [
            {"version": "abc"},
            {"version": "9" * 30},
            {"lot": "9" * 30},
            {"lot": "\x00"},
            {"vials": "0"},
            {"second_lot": "-1"},
            {"notes": "x" * 10_000},
            {"reason": "\x00"},
        ],
    )
    def test_bad_input_is_a_form_error_not_a_500(self, held, clinician_client, bad):
        data = {
            "lot": held.vials_used.get().lot_id,
            "vials": 1,
            "notes": "Changed",
            "version": 1,
            "reason": "Because",
        } | bad
        response = clinician_client.post(amend_url(held), data)
        if any("\x00" in value for value in bad.values()):
            # NUL is refused before any view reads it (clinic.middleware).
            assert response.status_code == 400
        else:
            assert response.status_code == 200
            assert response.context["form"].errors
        held.refresh_from_db()
        assert held.record_version == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_ten_clinicians_amending_one_version_at_once():
    """Opened on the same version, submitted at the same instant: exactly one amendment
    wins, the others are told it changed meanwhile; the history holds the original and that
    one amendment."""
    from tests.test_concurrency import run_at_once

    threads = 10
    session = book(day=date(2026, 10, 1), now=at(date(2026, 9, 20)))
    lot = ProductLotFactory()
    session = services.complete_session(
        session=session, vials=[(lot, 1)], completed_by=session.clinician, now=session.ends_at
    )
    doctors = [clinician() for _ in range(threads)]

    def amend_as(i):
        services.amend_session_record(
            session=session,
            amended_by=doctors[i],
            reason=f"Reason {i}",
            expected_version=1,
            notes=f"Amendment {i}",
            side_effects="",
            vials=[(lot, 2)],
            now=session.ends_at + timedelta(days=1),
        )

    outcomes = run_at_once(threads, amend_as)
    assert outcomes.count("booked") == 1, outcomes  # run_at_once calls success "booked"
    assert outcomes.count("changed_meanwhile") == threads - 1, outcomes
    session.refresh_from_db()
    assert session.record_version == 2
    assert list(session.record_revisions.values_list("version", "notes")) == [
        (1, ""),
        (2, session.notes),
    ]


# --- A patient's medical information -------------------------------------------------------


@pytest.fixture
def on_file(frozen):
    return PatientFactory(
        medications="Finasteride 1 mg",
        allergies="Penicillin",
        takes_prescribed_nsaid=True,
        prescribed_nsaid="Aspirin 100 mg daily",
    )


class TestMedicalFields:
    def test_a_first_entry_needs_no_reason(self, frozen):
        patient = PatientFactory(medications="", allergies="")
        desk = staff()
        patient_services.update_patient(
            patient=patient, changed_by=desk, data={"medications": "Minoxidil 5%"}
        )
        change = PatientChange.objects.get(patient=patient)
        assert change.changes == {"medications": ["", "Minoxidil 5%"]}
        assert (change.reason, change.changed_by) == ("", desk)

    @pytest.mark.parametrize(
        "data",
        [
            {"medications": "Finasteride 5 mg"},
            {"allergies": ""},  # clearing is a change too
            {"takes_prescribed_nsaid": False, "prescribed_nsaid": ""},
            {"prescribed_nsaid": "Aspirin 300 mg"},
        ],
    )
    def test_changing_what_is_on_file_needs_a_reason(self, on_file, data):
        desk = staff()
        for reason in ("", "  "):
            with pytest.raises(ValidationError) as exc:
                patient_services.update_patient(
                    patient=on_file, changed_by=desk, data=data, reason=reason
                )
            assert codes(exc.value) == {"reason_required"}
        on_file.refresh_from_db()
        assert on_file.medications == "Finasteride 1 mg" and on_file.allergies == "Penicillin"
        assert not PatientChange.objects.filter(patient=on_file).exists()

        patient_services.update_patient(
            patient=on_file, changed_by=desk, data=data, reason="Patient's GP letter"
        )
        change = PatientChange.objects.get(patient=on_file)
        assert change.reason == "Patient's GP letter" and change.changed_by == desk
        for name, value in data.items():
            before = {
                "medications": "Finasteride 1 mg",
                "allergies": "Penicillin",
                "takes_prescribed_nsaid": True,
                "prescribed_nsaid": "Aspirin 100 mg daily",
            }[name]
            assert change.changes[name] == [before, value]

    def test_other_fields_change_without_a_reason(self, on_file):
        patient_services.update_patient(
            patient=on_file, changed_by=staff(), data={"phone": "+49 170 7654321"}
        )
        assert PatientChange.objects.get(patient=on_file).reason == ""

    def test_the_change_rows_stay_append_only(self, on_file):
        patient_services.update_patient(
            patient=on_file, changed_by=staff(), data={"allergies": "None"}, reason="Retested"
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            PatientChange.objects.filter(patient=on_file).update(reason="rewritten")


def edit_data(patient, **changes):
    data = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "time_zone": patient.time_zone,
        "reminders_by_email": "on",
        "medications": patient.medications,
        "takes_prescribed_nsaid": "on" if patient.takes_prescribed_nsaid else "",
        "prescribed_nsaid": patient.prescribed_nsaid,
        "allergies": patient.allergies,
        "notes": patient.notes,
        "contact_consent": "on",
        "loaded_at": patient.updated_at.isoformat(),
    }
    return {k: v for k, v in (data | changes).items() if v != ""}


class TestMedicalFieldPages:
    def test_the_reason_field_is_there_only_when_something_is_on_file(self, on_file, staff_client):
        url = reverse("patient_edit", args=[on_file.pk])
        assert "reason" in staff_client.get(url).context["form"].fields
        empty = PatientFactory(medications="", allergies="", notes="")
        form = staff_client.get(reverse("patient_edit", args=[empty.pk])).context["form"]
        assert "reason" not in form.fields

    def test_an_amendment_from_the_edit_page(self, on_file, staff_client):
        url = reverse("patient_edit", args=[on_file.pk])
        response = staff_client.post(url, edit_data(on_file, medications="Finasteride 5 mg"))
        assert response.status_code == 200
        form = response.context["form"]
        assert "reason" in form.errors
        assert form["medications"].value() == "Finasteride 5 mg"  # what was typed stays
        on_file.refresh_from_db()
        assert on_file.medications == "Finasteride 1 mg"

        response = staff_client.post(
            url, edit_data(on_file, medications="Finasteride 5 mg", reason="Dose raised by GP")
        )
        assert response.status_code == 302, response.context["form"].errors
        page = staff_client.get(reverse("patient_detail", args=[on_file.pk])).content.decode()
        assert 'id="changed-medications"' in page
        assert "Amended by Role Clinic staff on" in page and "(Dose raised by GP)" in page
        assert 'id="changed-allergies"' not in page  # allergies were not changed
        assert "Reason: Dose raised by GP" in page  # in the history of the record

    def test_a_first_entry_from_the_edit_page_reads_entered(self, frozen, staff_client):
        patient = PatientFactory(medications="", allergies="", notes="")
        response = staff_client.post(
            reverse("patient_edit", args=[patient.pk]),
            edit_data(patient, allergies="Latex"),
        )
        assert response.status_code == 302
        page = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert "Entered by Role Clinic staff on" in page


def test_the_admin_asks_why_too(on_file):
    from accounts import roles
    from tests.factories import UserFactory
    from tests.test_access_control import admin_save, signed_in

    client = signed_in(UserFactory(role=roles.CLINIC_ADMIN, is_staff=True))
    with pytest.raises(AssertionError):  # the form is shown again, with the error
        admin_save(client, on_file, {"allergies": ""})
    on_file.refresh_from_db()
    assert on_file.allergies == "Penicillin"
    admin_save(client, on_file, {"allergies": "", "amendment_reason": "Allergy test negative"})
    on_file.refresh_from_db()
    assert on_file.allergies == ""
    change = PatientChange.objects.get(patient=on_file)
    assert change.changes == {"allergies": ["Penicillin", ""]}
    assert change.reason == "Allergy test negative"
