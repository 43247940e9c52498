"""Issue 9, item 5: every request that gave an HTTP 500 in the security review, one by one.

The test client re-raises a view's exception, so each of these failed with the exception
behind the 500 before the fix. tests/test_fuzz.py throws arbitrary input at every page.
"""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.factories import PatientFactory, RoomFactory, book
from treatments.models import TreatmentSession

pytestmark = pytest.mark.django_db

BAD_DAYS = ["0000-00-00", "2027-02-30", "2026-13-01", "0001-01-01", "9999-12-31"]
HUGE = "9" * 30


def assert_not_500(response):
    assert response.status_code < 500, response.status_code


class TestWithoutSigningIn:
    def test_a_nul_byte_in_the_calendar_token(self, db):
        response = Client().get("/portal/calendar/%00.ics")
        assert response.status_code in (400, 404)

    def test_a_10000_character_username_is_a_form_error(self, db):
        response = Client().post(
            reverse("login"), {"username": "a" * 10_000, "password": "whatever"}
        )
        assert response.status_code == 200
        assert "at most 150 characters" in response.content.decode()

    def test_a_150_character_username_still_signs_in(self, db):
        name = "u" * 150
        User.objects.create_user(name, password="correct horse battery")
        client = Client()
        response = client.post(
            reverse("login"), {"username": name, "password": "correct horse battery"}
        )
        assert response.status_code == 302


class TestSchedule:
    @pytest.mark.parametrize("day", BAD_DAYS)
    def test_a_bad_day_falls_back_to_today(self, staff_client, day):
        response = staff_client.get(reverse("schedule"), {"day": day})
        assert response.status_code == 200
        assert response.context["day"] == date(2027, 1, 4)

    @pytest.mark.parametrize("view", ["day", "week"])
    def test_the_last_allowed_day_renders(self, staff_client, view):
        response = staff_client.get(reverse("schedule"), {"day": "2199-12-31", "view": view})
        assert response.status_code == 200

    @pytest.mark.parametrize("param", ["clinician", "room"])
    @pytest.mark.parametrize("value", ["²", HUGE, "-1", "1.5"])
    def test_a_bad_clinician_or_room_shows_everyone(self, staff_client, param, value):
        response = staff_client.get(reverse("schedule"), {param: value})
        assert response.status_code == 200

    def test_a_good_filter_still_filters(self, staff_client):
        room, other = RoomFactory(), RoomFactory()
        mine = book(day=date(2027, 1, 20), room=room)
        theirs = book(day=date(2027, 1, 20), room=other)
        response = staff_client.get(reverse("schedule"), {"day": "2027-01-20", "room": room.pk})
        page = response.content.decode()
        assert mine.patient.last_name in page and theirs.patient.last_name not in page


class TestPaging:
    @pytest.mark.parametrize(
        "name", ["patient_list", "follow_up_review", "failed_reminders", "recall"], ids=str
    )
    @pytest.mark.parametrize("page", [HUGE, "²", "-5", "0", "x"])
    def test_a_page_number_out_of_range(self, clinic_admin_client, name, page):
        response = clinic_admin_client.get(reverse(name), {"page": page})
        assert response.status_code == 200

    def test_a_huge_page_is_clamped_to_the_last_page_we_serve(self, clinic_admin_client):
        from ui.forms import MAX_PAGE

        response = clinic_admin_client.get(reverse("patient_list"), {"page": HUGE})
        assert response.context["page"].number == MAX_PAGE


class TestPatientSearch:
    def test_a_nul_byte_in_the_search(self, staff_client):
        response = staff_client.get(reverse("patient_list"), {"q": "a\x00b"})
        assert response.status_code == 400

    def test_the_search_still_finds(self, staff_client):
        patient = PatientFactory(last_name="Zwiebel")
        response = staff_client.get(reverse("patient_list"), {"q": "zwie"})
        assert "Zwiebel, " + patient.first_name in response.content.decode()


class TestPreview:
    @pytest.mark.parametrize("day", BAD_DAYS)
    def test_a_bad_day_gives_only_the_eligibility(self, staff_client, day):
        patient = PatientFactory()
        response = staff_client.get(reverse("session_preview", args=[patient.pk]), {"day": day})
        assert response.status_code == 200
        assert "gap_ok" not in response.json()

    @pytest.mark.parametrize("time", ["25:00", "²", "12:61"])
    def test_a_bad_time_gives_only_the_eligibility(self, staff_client, time):
        patient = PatientFactory()
        response = staff_client.get(
            reverse("session_preview", args=[patient.pk]), {"day": "2027-03-10", "time": time}
        )
        assert response.status_code == 200
        assert "gap_ok" not in response.json()

    def test_a_good_day_still_previews(self, staff_client):
        patient = PatientFactory()
        response = staff_client.get(
            reverse("session_preview", args=[patient.pk]), {"day": "2027-03-10", "time": "10:00"}
        )
        assert response.json()["gap_ok"] is True


class TestBookingFarAhead:
    def _data(self, day):
        from tests.factories import clinician

        return {
            "day": day,
            "time": "10:00",
            "duration": 60,
            "clinician": clinician().pk,
            "room": RoomFactory().pk,
            "booking_key": "8a1f3f8e-2a4b-4f4e-9d6a-3b5d6f7a8b9c",
        }

    def test_booking_on_9999_12_31_is_a_form_error(self, staff_client):
        patient = PatientFactory()
        response = staff_client.post(
            reverse("session_book", args=[patient.pk]), self._data("9999-12-31")
        )
        assert response.status_code == 200
        assert "day" in response.context["form"].errors
        assert not TreatmentSession.objects.exists()

    def test_moving_a_session_to_9999_12_31_is_a_form_error(self, staff_client):
        session = book(day=date(2027, 3, 10))
        data = self._data("9999-12-31")
        response = staff_client.post(reverse("session_reschedule", args=[session.pk]), data)
        assert response.status_code == 200
        assert "day" in response.context["form"].errors
        session.refresh_from_db()
        assert session.local_date == date(2027, 3, 10)

    def test_the_service_refuses_a_day_after_the_range_too(self, frozen):
        from django.core.exceptions import ValidationError

        from patients.validators import LATEST_DAY

        with pytest.raises(ValidationError) as exc:
            book(day=LATEST_DAY + timedelta(days=1))
        assert exc.value.code == "too_far_ahead"
        assert book(day=LATEST_DAY).local_date == LATEST_DAY


class TestMarkMissed:
    @pytest.mark.parametrize("value", ["²", HUGE, "-1"])
    def test_a_bad_follow_up_id(self, clinic_admin_client, value):
        response = clinic_admin_client.post(
            reverse("follow_up_mark_missed"), {"follow_up": [value]}
        )
        assert response.status_code == 302

    @pytest.mark.parametrize("target", ["nowhere", "https://evil.example/", "//evil.example/x"])
    def test_next_goes_only_to_this_site(self, clinic_admin_client, target):
        response = clinic_admin_client.post(reverse("follow_up_mark_missed"), {"next": target})
        assert response.status_code == 302
        assert response["Location"] == reverse("follow_up_review")

    def test_next_on_this_site_is_kept(self, clinic_admin_client):
        target = reverse("follow_up_review") + "?status=due"
        response = clinic_admin_client.post(reverse("follow_up_mark_missed"), {"next": target})
        assert response["Location"] == target


class TestAdmin:
    def test_a_nul_byte_in_a_list_filter(self, db):
        admin = User.objects.create_superuser("root", "root@clinic.test", "correct horse battery")
        client = Client()
        client.force_login(admin)
        response = client.get("/admin/patients/patient/", {"last_name": "a\x00"})
        assert response.status_code == 400
        response = client.get("/admin/patients/patient/", {"q": "a\x00"})
        assert response.status_code == 400
