"""Running a session, recording follow-ups, the admin review, patients, and signing in."""

import csv
import io
from datetime import date, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from clinic.celery import app as celery_app
from frontdesk.forms import FIELD_FOR_CODE, BookingForm, CompleteForm
from patients.models import Patient
from reminders.models import Reminder
from tests.conftest import TEST_REDIS_URL
from tests.factories import NOW, PatientFactory, ProductLotFactory, at, book, clinician
from treatments import selectors, services, tasks
from treatments.models import FollowUpPhoto, SessionStatus
from ui.forms import add_service_error

pytestmark = pytest.mark.django_db


def started_session(**kwargs):
    """A session at 08:00 on NOW's day (already started at 09:00), booked in December."""
    return book(day=date(2027, 1, 4), hour=8, now=at(date(2026, 12, 20), 9), **kwargs)


def completed_session(**kwargs):
    session = started_session(**kwargs)
    return services.complete_session(
        session=session, vials=[(ProductLotFactory(), 1)], completed_by=session.clinician, now=NOW
    )


# The adherence's own statement (treatments.selectors): what a page must not run when the
# figure is kept.
ADHERENCE_SQL = "COUNT(*) FILTER (WHERE status = "


def kept(day: date):
    """The adherence the cache holds for `day`."""
    return cache.get(f"follow-up-adherence:{day}", version=selectors.ADHERENCE_CACHE_VERSION)


def kept_for(day: date) -> int:
    """How many more seconds Redis keeps `day`'s adherence."""
    key = cache.make_and_validate_key(
        f"follow-up-adherence:{day}", version=selectors.ADHERENCE_CACHE_VERSION
    )
    return redis.Redis.from_url(TEST_REDIS_URL).ttl(key)


def queries(client, url) -> list[str]:
    """The SQL of a GET of `url`."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def png(size=(20, 20), fmt="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, fmt)
    return buffer.getvalue()


class TestRunningASession:
    def test_check_in_complete_with_usable_lots(self, clinician_client):
        session = started_session()
        good, expired = ProductLotFactory(), ProductLotFactory(expiry_date=date(2026, 12, 31))
        clinician_client.post(reverse("session_check_in", args=[session.pk]))
        session.refresh_from_db()
        assert session.checked_in_at is not None and session.status == SessionStatus.CONFIRMED
        page = clinician_client.get(reverse("session_complete", args=[session.pk])).content.decode()
        assert good.lot_number in page and expired.lot_number not in page
        response = clinician_client.post(
            reverse("session_complete", args=[session.pk]),
            {"lot": good.pk, "vials": 1, "side_effects": "mild redness"},
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == SessionStatus.COMPLETED
        assert list(session.lots.all()) == [good]

    def test_check_in_on_another_day_is_refused_with_a_message(self, staff_client):
        session = book(day=date(2027, 3, 10))
        response = staff_client.post(reverse("session_check_in", args=[session.pk]), follow=True)
        assert "only on the day of the session" in response.content.decode()

    def test_no_show(self, staff_client):
        session = started_session()
        staff_client.post(reverse("session_no_show", args=[session.pk]), {"confirmed": "yes"})
        session.refresh_from_db()
        assert session.status == SessionStatus.NO_SHOW

    def test_clinician_records_the_nsaid_decision(self, clinician_client):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        session = book(patient, date(2027, 3, 10))
        page = clinician_client.get(reverse("session_detail", args=[session.pk])).content.decode()
        assert "No clinician decision yet" in page
        clinician_client.post(
            reverse("session_nsaid_decision", args=[session.pk]), {"decision": "Continue."}
        )
        session.refresh_from_db()
        assert (
            session.nsaid_decision == "Continue."
            and session.nsaid_decided_by == clinician_client.user
        )

    def test_move_and_cancel(self, staff_client):
        session = book(day=date(2027, 3, 10))
        response = staff_client.post(
            reverse("session_reschedule", args=[session.pk]),
            {
                "day": "2027-03-17",
                "time": "11:00",
                "duration": "60",
                "clinician": session.clinician_id,
                "room": session.room_id,
            },
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.local_date == date(2027, 3, 17)
        response = staff_client.post(reverse("session_cancel", args=[session.pk]), {"reason": ""})
        assert "reason" in response.context["form"].errors
        staff_client.post(reverse("session_cancel", args=[session.pk]), {"reason": "Moved away"})
        session.refresh_from_db()
        assert session.status == SessionStatus.CANCELLED

    def test_moving_too_close_is_refused_on_the_day_field(self, staff_client):
        patient = PatientFactory()
        book(patient, date(2027, 3, 10))
        later = book(patient, date(2027, 10, 1))
        response = staff_client.post(
            reverse("session_reschedule", args=[later.pk]),
            {
                "day": "2027-06-01",
                "time": "11:00",
                "duration": "60",
                "clinician": later.clinician_id,
                "room": later.room_id,
            },
        )
        assert "Friday 10 September 2027" in response.context["form"].errors["day"][0]


class TestServiceErrorsOnForms:
    @pytest.mark.parametrize(
        ("code", "field", "params"),
        [
            ("session_gap", "day", None),
            ("in_the_past", "day", None),
            ("slot_taken", "clinician", {"what": "clinician"}),
            ("slot_taken", "room", {"what": "room"}),
            ("nsaid_window_started", "nsaid_free_confirmed", None),
            ("nsaid_review_required", "nsaid_decision", None),
            ("invalid_status", None, None),
        ],
    )
    def test_booking_codes(self, code, field, params):
        form = BookingForm(data={})
        form.is_valid()
        add_service_error(
            form,
            ValidationError("Refused.", code=code, params=params),
            field_for_code=FIELD_FOR_CODE,
        )
        assert form.errors[field or "__all__"][-1] == "Refused."

    def test_lot_not_usable(self):
        session = book(day=date(2027, 3, 10))
        form = CompleteForm(data={}, session=session)
        form.is_valid()
        add_service_error(
            form,
            ValidationError("Lot X cannot be used.", code="lot_not_usable"),
            field_for_code=FIELD_FOR_CODE,
        )
        assert "Lot X cannot be used." in form.errors["lot"]


class TestFollowUps:
    def url(self, follow_up):
        return reverse("follow_up_record", args=[follow_up.pk])

    def test_record_with_measurements_and_a_photo(self, clinician_client):
        session = completed_session()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        response = clinician_client.post(
            self.url(follow_up),
            {
                "status": "done",
                "version": 0,
                "hair_density_per_cm2": "120.5",
                "patient_rating": "8",
                "photo_top": SimpleUploadedFile("top.png", png(), content_type="image/png"),
            },
        )
        assert response.status_code == 302
        follow_up.refresh_from_db()
        assert follow_up.status == "done" and follow_up.patient_rating == 8
        # Seen by the signed-in clinician, whoever the session's clinician was.
        assert follow_up.seen_by == follow_up.recorded_by == clinician_client.user
        photo = FollowUpPhoto.objects.get(follow_up=follow_up)
        served = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))
        assert served.status_code == 200 and served["Content-Type"] == "image/png"
        # Stored re-encoded (tests/test_security.py): the same picture, not the same bytes.
        with Image.open(io.BytesIO(b"".join(served.streaming_content))) as image:
            assert image.size == (20, 20) and image.getpixel((0, 0)) == (255, 255, 255)

    @pytest.mark.parametrize(
        ("upload", "message"),
        [
            (SimpleUploadedFile("x.png", b"not an image", content_type="image/png"), "valid image"),
            (
                SimpleUploadedFile("x.gif", png(fmt="GIF"), content_type="image/gif"),
                "JPEG, PNG or WebP",
            ),
        ],
    )
    def test_photo_type_checks(self, clinician_client, upload, message):
        session = completed_session()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        response = clinician_client.post(
            self.url(follow_up),
            {"status": "done", "version": 0, "photo_top": upload},
        )
        assert message in str(response.context["form"].errors["photo_top"])
        assert not FollowUpPhoto.objects.exists()

    def test_photo_size_check(self, clinician_client, settings):
        settings.PHOTO_MAX_BYTES = 100
        session = completed_session()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        response = clinician_client.post(
            self.url(follow_up),
            {
                "status": "done",
                "version": 0,
                "photo_top": SimpleUploadedFile(
                    "big.png", png((200, 200)), content_type="image/png"
                ),
            },
        )
        assert "at most" in str(response.context["form"].errors["photo_top"])

    def test_done_is_a_clinicians_and_the_rating_is_checked(self, staff_client, clinician_client):
        session = completed_session()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        # The front desk is offered "missed" only: "done" is not a valid choice for it.
        response = staff_client.post(
            self.url(follow_up), {"status": "done", "patient_rating": "8", "version": 0}
        )
        assert "status" in response.context["form"].errors
        assert "patient_rating" not in response.context["form"].fields
        response = clinician_client.post(
            self.url(follow_up), {"status": "done", "patient_rating": "11", "version": 0}
        )
        assert "patient_rating" in response.context["form"].errors
        follow_up.refresh_from_db()
        assert follow_up.status == "planned"

    def test_photos_are_not_for_patients(self, patient_client, clinician_client):
        session = completed_session()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        clinician_client.post(
            self.url(follow_up),
            {
                "status": "done",
                "version": 0,
                "photo_top": SimpleUploadedFile("top.png", png(), content_type="image/png"),
            },
        )
        photo = FollowUpPhoto.objects.get()
        assert patient_client.get(reverse("follow_up_photo", args=[photo.pk])).status_code == 403


class TestFollowUpReview:
    @pytest.fixture
    def data(self):
        # A session carried out on 1 October 2026: at NOW (4 Jan 2027) its 7-day check was
        # done (8 Oct) and its 3-month one (1 Jan) is overdue; both fall in the last 90 days.
        session = book(day=date(2026, 10, 1), now=at(date(2026, 9, 20), 9))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=at(date(2026, 10, 1), 12),
        )
        aftercare = session.follow_ups.get(kind="aftercare_check")
        services.record_follow_up(
            follow_up=aftercare,
            status="done",
            recorded_by=session.clinician,
            now=at(date(2026, 10, 8)),
        )
        return session

    def test_counts_and_filters(self, clinic_admin_client, data):
        response = clinic_admin_client.get(reverse("follow_up_review"))
        counts = response.context["counts"]
        assert counts["overdue"] == 1  # the 3-month one, due 1 Jan 2027
        assert counts["adherence"] == 50  # 1 of 2 due in the last 90 days was done
        assert [f["kind"] for f in response.context["page"]] == ["early_result"]
        done = clinic_admin_client.get(reverse("follow_up_review"), {"status": "done"})
        assert [f["kind"] for f in done.context["page"]] == ["aftercare_check"]
        due = clinic_admin_client.get(
            reverse("follow_up_review"), {"status": "due", "kind": "assessment"}
        )
        assert [f["kind"] for f in due.context["page"]] == ["assessment"]
        other = clinic_admin_client.get(
            reverse("follow_up_review"), {"status": "all", "clinician": clinician().pk}
        )
        assert list(other.context["page"]) == []
        ranged = clinic_admin_client.get(
            reverse("follow_up_review"),
            {"status": "all", "date_from": "2026-12-15", "date_to": "2027-01-02"},
        )
        assert [f["kind"] for f in ranged.context["page"]] == ["early_result"]

    def test_counts_past_the_cap_say_more_than(self, clinic_admin_client, data, monkeypatch):
        from treatments import selectors

        monkeypatch.setattr(selectors, "COUNT_CAP", 0)  # the one overdue passes it
        response = clinic_admin_client.get(reverse("follow_up_review"))
        counts = response.context["counts"]
        assert counts["overdue"] == 1 and "overdue" in counts["capped"]
        assert 'id="count-overdue">more than 0<' in response.content.decode()
        assert counts["adherence"] == 50  # never capped

    # The 90-day adherence (README, "Performance"): beat's task counts it and keeps it in the
    # cache under today's key; the page reads it, and counts it itself only when the cache has
    # none. `data`: on NOW's day 1 of the 2 follow-ups due in the last 90 days was done (50%).

    def test_the_beat_task_keeps_the_exact_figure_under_the_clinics_day(self, data, frozen):
        tasks.recount_follow_up_adherence()
        assert kept(NOW.date()) == {
            "adherence": 50,
            "recent_done": 1,
            "recent_due": 2,
            "adherence_counted_at": NOW,
        }
        # Kept longer than beat's interval, so the next recount replaces it before it expires.
        seconds = settings.FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS
        assert seconds < kept_for(NOW.date()) <= selectors.ADHERENCE_KEPT_BEATS * seconds
        data.follow_ups.filter(kind="early_result").update(status="cancelled")
        later = NOW + timedelta(minutes=5)
        with time_machine.travel(later, tick=False):
            tasks.recount_follow_up_adherence()
        assert kept(NOW.date())["adherence"] == 100  # recounted, replacing the kept figure
        assert kept(NOW.date())["adherence_counted_at"] == later
        # 00:30 in Berlin is still the day before in UTC: the key is the clinic's day.
        after_midnight = at(date(2027, 1, 5), 0, 30)
        with time_machine.travel(after_midnight, tick=False):
            tasks.recount_follow_up_adherence()
        assert kept(date(2027, 1, 5))["adherence_counted_at"] == after_midnight

    def test_the_page_shows_the_kept_figure_without_counting(
        self, clinic_admin_client, data, django_assert_max_num_queries
    ):
        url = reverse("follow_up_review")
        cold = queries(clinic_admin_client, url)  # the cache empty: the page counts it
        assert [q for q in cold if ADHERENCE_SQL in q]
        with time_machine.travel(NOW - timedelta(minutes=4), tick=False):
            tasks.recount_follow_up_adherence()  # beat, four minutes ago
        data.follow_ups.filter(kind="early_result").update(status="cancelled")  # now 100%
        with django_assert_max_num_queries(len(cold) - 1):
            response = clinic_admin_client.get(url)
        counts = response.context["counts"]
        assert counts["adherence"] == 50 and counts["overdue"] == 0  # kept; the counts live
        html = response.content.decode()
        assert 'id="count-adherence">50%<' in html and "counted at 08:56" in html

    def test_the_page_counts_it_when_the_cache_has_none(self, clinic_admin_client, data):
        url = reverse("follow_up_review")
        response = clinic_admin_client.get(url)  # first start, or Redis flushed
        assert response.context["counts"]["adherence"] == 50
        assert "counted at 09:00" in response.content.decode()
        # ...once: kept for the pages after it, which do not count it again.
        assert kept(NOW.date())["adherence"] == 50
        data.follow_ups.filter(kind="early_result").update(status="cancelled")
        warm = queries(clinic_admin_client, url)
        assert not [q for q in warm if ADHERENCE_SQL in q]
        assert clinic_admin_client.get(url).context["counts"]["adherence"] == 50

    def test_a_new_day_is_not_served_yesterdays_figure(self, clinic_admin_client, data):
        tasks.recount_follow_up_adherence()
        data.follow_ups.filter(kind="early_result").update(status="cancelled")
        url = reverse("follow_up_review")
        assert clinic_admin_client.get(url).context["counts"]["adherence"] == 50  # today's
        tomorrow = at(date(2027, 1, 5), 0, 5)  # before the next beat
        with time_machine.travel(tomorrow, tick=False):
            clinic_admin_client.force_login(clinic_admin_client.user)  # idle since yesterday
            response = clinic_admin_client.get(url)
        assert response.context["counts"]["adherence"] == 100  # counted for the new day
        assert "counted at 00:05" in response.content.decode()

    def test_with_the_cache_down_the_page_counts_it(self, clinic_admin_client, data, settings):
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"  # its copy is there
        settings.CACHES = {
            **settings.CACHES,
            "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
        }
        response = clinic_admin_client.get(reverse("follow_up_review"))
        assert response.context["counts"]["adherence"] == 50
        assert "counted at 09:00" in response.content.decode()

    def test_beat_runs_the_recount(self):
        scheduled = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
        entry = scheduled[tasks.recount_follow_up_adherence.name]
        assert entry["schedule"] == settings.FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS
        celery_app.loader.import_default_modules()  # as a worker starts: autodiscovery
        assert tasks.recount_follow_up_adherence.name in celery_app.tasks

    def test_the_rows_written_in_python_are_escaped(self, clinic_admin_client, data):
        data.patient.first_name = '<b>"Ann"</b>'
        data.patient.save()
        html = clinic_admin_client.get(reverse("follow_up_review")).content.decode()
        assert "<b>" not in html and "&lt;b&gt;&quot;Ann&quot;&lt;/b&gt;" in html
        assert 'aria-label="Select &lt;b&gt;&quot;Ann&quot;' in html  # the staff msgid
        assert 'flag">overdue</span>' in html and ">Record</a>" in html

    def test_csv_export_of_the_filtered_list(self, clinic_admin_client, data):
        data.patient.first_name = "=HYPERLINK(evil)"
        data.patient.save()
        response = clinic_admin_client.get(reverse("follow_up_review_csv"), {"status": "overdue"})
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0][:3] == ["due date", "kind", "status"]
        assert len(rows) == 2 and rows[1][0] == "2027-01-01"
        assert rows[1][3].startswith("'=")  # no formula injection into a spreadsheet

    def test_bulk_mark_missed(self, clinic_admin_client, data):
        overdue = data.follow_ups.get(kind="early_result")
        future = data.follow_ups.get(kind="long_term")
        clinic_admin_client.post(
            reverse("follow_up_mark_missed"), {"follow_up": [overdue.pk, future.pk]}
        )
        overdue.refresh_from_db()
        future.refresh_from_db()
        assert overdue.status == "missed" and future.status == "planned"
        assert Reminder.objects.get(follow_up=overdue).state in ("withdrawn", "sent", "expired")


class TestPatients:
    def test_register(self, staff_client):
        response = staff_client.post(
            reverse("patient_create"),
            {
                "first_name": "Ana",
                "last_name": "Lima",
                "date_of_birth": "1988-04-02",
                "email": "ana@example.com",
                "phone": "+351 912 345 678",
                "time_zone": "Europe/Lisbon",
                "reminders_by_email": "on",
                "contact_consent": "on",
            },
        )
        patient = Patient.objects.get(email="ana@example.com")
        assert response["Location"] == reverse("patient_detail", args=[patient.pk])
        assert patient.contact_consent_at is not None

    def test_register_refusals_keep_the_input(self, staff_client):
        PatientFactory(email="taken@example.com")
        response = staff_client.post(
            reverse("patient_create"),
            {
                "first_name": "Ana",
                "last_name": "Lima",
                "date_of_birth": "1988-04-02",
                "email": "TAKEN@example.com",
                "time_zone": "Europe/Lisbon",
                "takes_prescribed_nsaid": "on",
                "reminders_by_sms": "on",
            },
        )
        errors = response.context["form"].errors
        assert "already registered" in errors["email"][0]
        response = staff_client.post(
            reverse("patient_create"),
            {
                "first_name": "Ana",
                "last_name": "Lima",
                "date_of_birth": "1988-04-02",
                "email": "new@example.com",
                "time_zone": "Europe/Lisbon",
                "takes_prescribed_nsaid": "on",
                "reminders_by_sms": "on",
            },
        )
        errors = response.context["form"].errors
        assert "prescribed_nsaid" in errors and "phone" in errors
        assert response.context["form"].data["first_name"] == "Ana"

    def test_search_and_pagination(self, staff_client):
        for i in range(30):
            PatientFactory(last_name=f"Zed{i:02d}")
        PatientFactory(last_name="Unique", email="needle@example.com")
        page = staff_client.get(reverse("patient_list")).context["page"]
        assert page.has_next and len(page) == 25
        second = staff_client.get(reverse("patient_list"), {"page": "2"}).context["page"]
        assert len(second) == 6 and not second.has_next and second.has_previous
        assert staff_client.get(reverse("patient_list"), {"page": "x"}).status_code == 200
        found = staff_client.get(reverse("patient_list"), {"q": "needle"}).context["page"]
        assert [p.last_name for p in found] == ["Unique"]

    def test_patient_page_at_a_glance(self, staff_client):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        session = book(patient, date(2027, 1, 6), nsaid_decision="Continue")
        page = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert "Prescribed NSAID: Aspirin 100 mg" in page
        assert "Tuesday 6 July 2027" in page  # the earliest next session
        assert "NSAID window now" in page  # the window began on 3 January
        assert "Booking confirmation" in page
        assert session.follow_ups.count() == 4 and "Aftercare check" in page


class TestSignIn:
    def test_sign_in_lands_by_role(self, client, db):
        from accounts import roles
        from tests.factories import UserFactory

        UserFactory(username="rita", role=roles.CLINIC_STAFF)
        response = client.post(
            reverse("login"), {"username": "rita", "password": "correct horse battery"}, follow=True
        )
        assert response.redirect_chain[-1][0] == reverse("schedule")

    def test_failed_sign_ins_are_locked_out(self, client, db, settings):
        from accounts import roles
        from tests.factories import UserFactory

        UserFactory(username="rita", role=roles.CLINIC_STAFF)
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("login"), {"username": "rita", "password": "wrong"})
        response = client.post(
            reverse("login"), {"username": "rita", "password": "correct horse battery"}
        )
        assert response.status_code in (403, 429)
        assert "Too many sign-in attempts" in response.content.decode()

    def test_password_reset_by_email(self, client, db):
        from tests.factories import UserFactory

        UserFactory(username="rita", email="rita@clinic.test")
        client.post(reverse("password_reset"), {"email": "rita@clinic.test"})
        assert len(mail.outbox) == 1 and "/accounts/reset/" in mail.outbox[0].body

    def test_sign_out_is_post(self, staff_client):
        assert staff_client.post(reverse("logout")).status_code == 302
        assert staff_client.get(reverse("schedule")).status_code == 302


class TestSchedule:
    def test_flags_staff_must_see(self, staff_client):
        # NOW is Monday 4 January 2027, 09:00.
        aspirin = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        book(aspirin, date(2027, 1, 4), hour=11, now=at(date(2026, 12, 1)))
        started = started_session()  # 08:00 today, not completed
        repeat_patient = PatientFactory()
        first = book(repeat_patient, date(2026, 6, 1), now=at(date(2026, 5, 1)))
        services.complete_session(
            session=first,
            vials=[(ProductLotFactory(), 1)],
            completed_by=first.clinician,
            now=first.ends_at,
        )
        book(repeat_patient, date(2027, 1, 4), hour=14, now=at(date(2026, 12, 1)))

        response = staff_client.get(reverse("schedule"), {"day": "2027-01-04"})
        [today] = response.context["schedule"].days
        assert today.day == date(2027, 1, 4)
        entries = {row["patient"]: [t for _, t in row["flags"]] for row in today.rows}
        assert "Prescribed NSAID: clinician decision needed" in entries[aspirin.full_name]
        assert "Lot not yet recorded" in entries[started.patient.full_name]
        assert "Repeat session without 6-month assessment" in entries[repeat_patient.full_name]
        assert all(
            any(t.startswith("In NSAID window") for t in flags) for flags in entries.values()
        )
        page = response.content.decode()
        assert "Repeat session without 6-month assessment" in page

    def test_week_view_and_filters(self, staff_client):
        doctor = clinician()
        mine = book(day=date(2027, 3, 10), clinician_user=doctor)
        book(day=date(2027, 3, 11))
        week = staff_client.get(reverse("schedule"), {"day": "2027-03-10", "view": "week"})
        days = week.context["schedule"].days
        assert days[0].day == date(2027, 3, 8) and len(days) == 7
        assert sum(len(d.rows) for d in days) == 2
        only = staff_client.get(
            reverse("schedule"), {"day": "2027-03-10", "view": "week", "clinician": doctor.pk}
        )
        assert [r["session_id"] for d in only.context["schedule"].days for r in d.rows] == [mine.pk]
