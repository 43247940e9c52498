"""Issue 9, items 6 and 8: no caching of medical pages, safe CSV cells, bounded input, and a
403 logged as one line."""

import csv
import io
import logging
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts import roles
from frontdesk.forms import CancelForm, CompleteForm, NsaidDecisionForm
from patients import services as patient_services
from patients.models import Patient
from patients.services import register_patient
from tests.factories import PatientFactory, ProductLotFactory, UserFactory, at, book
from tests.test_query_counts import photo
from treatments import services
from treatments.models import FollowUpPhoto

pytestmark = pytest.mark.django_db

# Text-direction embedding/override and isolate controls (written out, not imported).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def no_store(response) -> bool:
    parts = {p.strip() for p in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= parts and "public" not in parts


@pytest.fixture
def shared_photo(frozen):
    """A patient signed in to the portal, with a completed session and a shared photo."""
    patient = PatientFactory()
    user = UserFactory(username=patient.email, role=roles.PATIENT)
    patient.user = user
    patient.save()
    session = book(patient, date(2026, 11, 2), now=at(date(2026, 10, 1)))
    services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=at(date(2026, 11, 2), 12),
    )
    follow_up = session.follow_ups.get(kind="aftercare_check")
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=session.clinician,
        shared_with_patient=True,
        photos=[("top", photo())],
        now=at(date(2026, 11, 9)),
    )
    client = Client()
    client.force_login(user)
    return client, patient, session, FollowUpPhoto.objects.get()


class TestNoCaching:
    @pytest.mark.parametrize("name", ["schedule", "patient_list", "home"])
    def test_staff_pages(self, staff_client, name):
        response = staff_client.get(reverse(name))
        assert response.status_code in (200, 302)
        assert no_store(response)

    def test_portal_pages_photos_and_ics(self, shared_photo, clinician_client):
        client, patient, session, shared = shared_photo
        for url in [
            reverse("portal_home"),
            reverse("portal_follow_ups"),
            reverse("portal_photo", args=[shared.pk]),
            reverse("portal_session_ics", args=[session.pk]),
        ]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert no_store(response), url
        # Clinical photos are the clinicians' (the front desk's is refused: permission table).
        staff_photo = clinician_client.get(reverse("follow_up_photo", args=[shared.pk]))
        assert staff_photo.status_code == 200 and no_store(staff_photo)

    def test_the_private_calendar_feed(self, shared_photo):
        _, patient, _, _ = shared_photo
        token = patient_services.new_calendar_token(patient=patient)
        response = Client().get(reverse("portal_calendar_feed", args=[token]))
        assert response.status_code == 200 and no_store(response)

    def test_a_403_and_the_sign_in_response_too(self, patient_client, db):
        assert no_store(patient_client.get(reverse("schedule")))
        UserFactory(username="desk", role=roles.CLINIC_STAFF)
        response = Client().post(
            reverse("login"), {"username": "desk", "password": "correct horse battery"}
        )
        assert response.status_code == 302 and no_store(response)


class TestCsvCells:
    @pytest.fixture
    def overdue(self):
        session = book(day=date(2026, 10, 1), now=at(date(2026, 9, 20), 9))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=at(date(2026, 10, 1), 12),
        )
        return session.patient

    def row(self, client):
        response = client.get(reverse("follow_up_review_csv"), {"status": "overdue"})
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert len(rows) >= 2
        return dict(zip(rows[0], rows[1], strict=True))

    def test_email_is_escaped(self, clinic_admin_client, overdue):
        Patient.objects.filter(pk=overdue.pk).update(email="=1+2@example.test")
        assert self.row(clinic_admin_client)["email"] == "'=1+2@example.test"

    @pytest.mark.parametrize("start", ["\t", "\r", "=", "+", "-", "@"])
    def test_every_formula_start_is_escaped(self, clinic_admin_client, overdue, start):
        Patient.objects.filter(pk=overdue.pk).update(first_name=start + "cmd")
        assert self.row(clinic_admin_client)["patient"].startswith("'" + start)

    def test_plain_cells_stay_as_they_are(self, clinic_admin_client, overdue):
        Patient.objects.filter(pk=overdue.pk).update(email="ana@example.test", first_name="Ana")
        row = self.row(clinic_admin_client)
        assert row["email"] == "ana@example.test"
        assert row["patient"].startswith("Ana ")
        # A phone number is no formula (issue 12): written without a stray apostrophe.
        assert row["phone"] == "+49 170 1234567"


def registration(**changes):
    data = dict(
        first_name="Ana",
        last_name="Lima",
        date_of_birth=date(1980, 1, 1),
        email="ana@example.test",
    )
    data.update(changes)
    return data


class TestPatientRules:
    """On the model, so the service (and the admin, and any other write path) holds them."""

    def test_born_before_1900_is_refused(self, frozen):
        with pytest.raises(ValidationError) as exc:
            register_patient(**registration(date_of_birth=date(1899, 12, 31)))
        assert "date_of_birth" in exc.value.message_dict

    def test_born_on_1_january_1900_is_accepted(self, frozen):
        assert register_patient(**registration(date_of_birth=date(1900, 1, 1))).pk

    def test_born_in_the_future_is_still_refused(self, frozen):
        with pytest.raises(ValidationError) as exc:
            register_patient(**registration(date_of_birth=date(2027, 1, 5)))
        assert "date_of_birth" in exc.value.message_dict

    @pytest.mark.parametrize("char", sorted(BIDI_CONTROLS))
    @pytest.mark.parametrize("field", ["first_name", "last_name"])
    def test_names_without_text_direction_controls(self, frozen, char, field):
        with pytest.raises(ValidationError) as exc:
            register_patient(**registration(**{field: f"Ana{char}lim"}))
        assert field in exc.value.message_dict

    def test_other_unicode_in_names_is_fine(self, frozen):
        patient = register_patient(**registration(first_name="Zoë", last_name="محمد\u200f"))
        assert patient.pk

    @pytest.mark.parametrize("field", ["medications", "allergies", "notes"])
    def test_free_text_is_bounded(self, frozen, field):
        with pytest.raises(ValidationError) as exc:
            register_patient(**registration(**{field: "x" * 2001}))
        assert field in exc.value.message_dict
        assert register_patient(**registration(**{field: "x" * 2000})).pk

    def test_the_admin_holds_them_too(self, db, frozen):
        from django.contrib.auth.models import User

        admin = User.objects.create_superuser("root", "root@clinic.test", "pw-root-123")
        client = Client()
        client.force_login(admin)
        patient = PatientFactory()
        response = client.post(
            reverse("admin:patients_patient_change", args=[patient.pk]),
            {
                "first_name": "Ana\u202e",
                "last_name": "Lima",
                "date_of_birth": "1850-01-01",
                "email": patient.email,
                "time_zone": "Europe/Berlin",
            },
        )
        assert response.status_code == 200  # the form again, with errors
        errors = response.context["adminform"].form.errors
        assert "first_name" in errors and "date_of_birth" in errors

    def test_the_registration_form_shows_the_errors(self, staff_client):
        response = staff_client.post(
            reverse("patient_create"),
            {
                **registration(first_name="Ana\u2066", date_of_birth="1899-01-01"),
                "time_zone": "Europe/Berlin",
                "notes": "x" * 2001,
            },
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert {"first_name", "date_of_birth", "notes"} <= set(errors)
        assert not Patient.objects.exists()


class TestFrontOfficeTextLimits:
    def test_long_texts_are_form_errors(self):
        long = "x" * 2001
        assert "reason" in CancelForm({"reason": long}).errors
        assert "decision" in NsaidDecisionForm({"decision": long}).errors
        assert "reason" not in CancelForm({"reason": "x" * 2000}).errors

    def test_complete_form_notes(self, frozen):
        session = book(day=date(2027, 3, 10))
        form = CompleteForm({"notes": "x" * 2001, "side_effects": "x" * 2001}, session=session)
        assert {"notes", "side_effects"} <= set(form.errors)


class TestForbiddenIsOneLine:
    def test_a_403_is_one_warning_line(self, patient_client):
        # settings.LOGGING's console handler (pytest's own handlers are other classes)
        handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
        stream = io.StringIO()
        old = handler.setStream(stream)
        try:
            response = patient_client.get(reverse("schedule"))
        finally:
            handler.setStream(old)
        assert response.status_code == 403
        lines = stream.getvalue().splitlines()
        assert lines == ["Forbidden (Permission denied): /schedule/"]

    def test_the_warning_level_and_no_traceback_on_the_record(self, patient_client, caplog):
        with caplog.at_level(logging.WARNING, logger="django.request"):
            patient_client.get(reverse("schedule"))
        [record] = [r for r in caplog.records if r.name == "django.request"]
        assert record.levelno == logging.WARNING
        assert record.exc_info is None

    def test_a_500_keeps_its_traceback(self):
        from clinic.logging import ClientErrorsOnOneLine

        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys

            record = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", (), None)
            record.exc_info = sys.exc_info()
            record.status_code = 500
        assert ClientErrorsOnOneLine().filter(record) and record.exc_info is not None
