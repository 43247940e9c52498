"""The patient portal: their own dates on their own clock, and nobody else's data."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from accounts import roles
from reminders.models import Reminder
from tests.factories import NOW, PatientFactory, ProductLotFactory, UserFactory, at, book, complete
from tests.test_query_counts import photo
from treatments import patient_requests, services
from treatments.models import ChangeRequest, FollowUpPhoto, SideEffectReport

pytestmark = pytest.mark.django_db


def portal_client(patient) -> Client:
    user = UserFactory(username=patient.email, role=roles.PATIENT)
    patient.user = user
    patient.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def patient(frozen):
    return PatientFactory(first_name="Maria")


def page(client, name="portal_home"):
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


class TestHome:
    def test_no_session(self, patient):
        html = page(portal_client(patient))
        assert "no session booked" in html
        assert "NSAID pause" not in html

    def test_session_next_week_with_a_dated_checklist(self, patient):
        book(patient, date(2027, 1, 11), hour=10)
        html = page(portal_client(patient))
        assert "Monday 11 January 2027 at 10:00" in html
        assert "In 7 days" in html
        assert "From Friday 8 January:</strong> no aspirin, ibuprofen, naproxen" in html
        assert "Tuesday 2 February 2027" in html  # may resume
        assert "Sunday 10 January (the day before):</strong> drink plenty" in html
        assert "Monday 11 January, in the morning:</strong> eat breakfast" in html
        assert "NSAID pause: day" not in html  # the window starts on Friday

    def test_inside_the_nsaid_window(self, patient):
        book(patient, date(2027, 1, 6), hour=10, now=at(date(2026, 12, 20)))
        html = page(portal_client(patient))
        assert "NSAID pause: day 2 of 25" in html  # window since 3 January
        assert "Until <strong>Wednesday 27 January 2027</strong>" in html
        assert "Paracetamol is the usual choice" in html

    def test_prescribed_nsaid_is_told_to_wait_for_advice(self, frozen):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        book(patient, date(2027, 1, 6), hour=10, now=at(date(2026, 12, 20)))
        html = page(portal_client(patient))
        assert "do not stop it on your own" in html
        assert "please wait for the clinic" in html
        assert "no aspirin, ibuprofen, naproxen or other NSAIDs" not in html

    def test_after_a_session(self, patient):
        session = book(patient, date(2027, 1, 2), hour=10, now=at(date(2026, 12, 20)))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=session.ends_at,
        )
        client = portal_client(patient)
        html = page(client)
        assert "Your last session was on 2 January 2027" in html
        aftercare = page(client, "portal_aftercare")
        assert "+49 30 1234567" in aftercare and "fever" in aftercare
        assert "until Saturday 23 January 2027" in aftercare
        follow_ups = page(client, "portal_follow_ups")
        assert "Aftercare check: <strong>Saturday 9 January 2027" in follow_ups
        assert "2 to 3 months" in follow_ups

    def test_a_patient_in_new_york_reads_the_clinic_clock_first(self, frozen):
        # 03:00 in Berlin on 11 Jan is 21:00 on 10 Jan in New York. The appointment reads on
        # the clinic's clock, named, their own time second; their NSAID pause counts on their
        # own calendar (session day the 10th there, so from the 7th).
        patient = PatientFactory(time_zone="America/New_York")
        book(patient, date(2027, 1, 11), hour=3)
        html = page(portal_client(patient))
        assert (
            "Monday 11 January 2027 at 03:00 Berlin time "
            "(Sunday 21:00 your time in New York)" in html
        )
        assert "From Thursday 7 January:</strong>" in html


class TestAccess:
    @pytest.fixture
    def other(self, frozen):
        other = PatientFactory()
        session = book(other, date(2027, 1, 2), hour=10, now=at(date(2026, 12, 20)))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=session.ends_at,
        )
        follow_up = session.follow_ups.get(kind="aftercare_check")
        services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=session.clinician,
            shared_with_patient=True,
            photos=[("top", photo())],
            now=NOW,
        )
        return {
            "session": session.pk,
            "follow_up": follow_up.pk,
            "photo": FollowUpPhoto.objects.get().pk,
        }

    OWNED = [
        ("portal_session_ics", "session"),
        ("portal_request_change", "session"),
        ("portal_follow_up_ics", "follow_up"),
        ("portal_photo", "photo"),
    ]

    @pytest.mark.parametrize(("name", "key"), OWNED)
    def test_another_patients_ids_give_404(self, patient, other, name, key):
        client = portal_client(patient)
        assert client.get(reverse(name, args=[other[key]])).status_code == 404
        assert client.get(reverse(name, args=[999999])).status_code == 404

    PAGES = ["portal_home", "portal_aftercare", "portal_follow_ups", "portal_preferences"]

    @pytest.mark.parametrize("name", PAGES)
    def test_staff_get_403_and_anonymous_sign_in(self, staff_client, client, name):
        assert staff_client.get(reverse(name)).status_code == 403
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))

    def test_own_shared_photo_is_served_unshared_is_not(self, other):
        from patients.models import Patient
        from treatments.models import TreatmentSession

        owner = Patient.objects.get(pk=TreatmentSession.objects.get(pk=other["session"]).patient_id)
        client = portal_client(owner)
        assert client.get(reverse("portal_photo", args=[other["photo"]])).status_code == 200
        from treatments.models import FollowUp

        FollowUp.objects.filter(pk=other["follow_up"]).update(shared_with_patient=False)
        assert client.get(reverse("portal_photo", args=[other["photo"]])).status_code == 404
        assert "Results appear here once" in page(client, "portal_follow_ups")

    def test_staff_notes_are_shown_only_when_shared(self, other):
        from treatments.models import FollowUp, TreatmentSession

        FollowUp.objects.filter(pk=other["follow_up"]).update(notes="Clinician-only remark")
        session = TreatmentSession.objects.get(pk=other["session"])
        session.notes = "Internal session note"
        session.save()
        client = portal_client(session.patient)
        assert "Clinician-only remark" in page(client, "portal_follow_ups")
        FollowUp.objects.filter(pk=other["follow_up"]).update(shared_with_patient=False)
        html = page(client, "portal_follow_ups") + page(client) + page(client, "portal_aftercare")
        assert "Clinician-only remark" not in html and "Internal session note" not in html


class TestInvite:
    def test_the_link_works_once(self, patient, staff_client, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("portal_invite", args=[patient.pk]))
        patient.refresh_from_db()
        assert patient.user.username == patient.email.lower()
        assert patient.user.groups.filter(name=roles.PATIENT).exists()
        [email] = mail.outbox
        link = re.search(r"http://\S+/portal/welcome/\S+/", email.body).group(0)
        path = link.split("127.0.0.1:8000")[1]
        client = Client()
        first = client.get(path)
        # As Django's password reset: the token leaves the URL after the first request.
        set_password = first["Location"]
        assert first.status_code == 302 and path.split("/")[-2] not in set_password
        assert client.get(set_password).status_code == 200
        response = client.post(
            set_password, {"new_password1": "Tr1cky-pass-9", "new_password2": "Tr1cky-pass-9"}
        )
        assert response["Location"] == reverse("portal_home")
        assert client.get(reverse("portal_home")).status_code == 200
        assert Client().get(path).status_code == 400  # used: no second time
        # Patients sign in with their email, whatever its letter case.
        fresh = Client()
        fresh.post(
            reverse("login"), {"username": patient.email.upper(), "password": "Tr1cky-pass-9"}
        )
        assert fresh.get(reverse("portal_home")).status_code == 200

    def test_the_link_expires(
        self, patient, staff_client, settings, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("portal_invite", args=[patient.pk]))
        path = re.search(r"/portal/welcome/\S+/", mail.outbox[0].body).group(0)
        with time_machine.travel(NOW + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)):
            assert Client().get(path).status_code == 400

    def test_an_existing_account_name_is_refused_clearly(self, patient, staff_client):
        UserFactory(username=patient.email)
        response = staff_client.post(reverse("portal_invite", args=[patient.pk]), follow=True)
        assert "already exists" in response.content.decode()
        assert mail.outbox == []


class TestCalendar:
    def test_session_ics_parses_with_the_start_in_utc(self, patient):
        session = book(patient, date(2027, 3, 10), hour=10)
        response = portal_client(patient).get(reverse("portal_session_ics", args=[session.pk]))
        assert response["Content-Type"].startswith("text/calendar")
        [event] = Calendar.from_ical(response.content).walk("VEVENT")
        assert event.decoded("dtstart") == datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
        assert b"DTSTART:20270310T090000Z" in response.content
        assert "7 March 2027" in str(event.get("description"))

    def test_follow_up_ics(self, patient):
        session = book(patient, date(2027, 3, 10))
        follow_up = session.follow_ups.get(kind="assessment")
        response = portal_client(patient).get(reverse("portal_follow_up_ics", args=[follow_up.pk]))
        [event] = Calendar.from_ical(response.content).walk("VEVENT")
        assert event.decoded("dtstart") == date(2027, 9, 10)

    def test_feed_works_until_revoked(self, patient):
        book(patient, date(2027, 3, 10))
        client = portal_client(patient)
        client.post(reverse("portal_calendar_token"), {"action": "new"})
        patient.refresh_from_db()
        feed = reverse("portal_calendar_feed", args=[patient.calendar_token])
        events = Calendar.from_ical(Client().get(feed).content).walk("VEVENT")
        assert len(events) == 5  # the session and its four follow-ups
        client.post(reverse("portal_calendar_token"), {"action": "revoke"})
        assert Client().get(feed).status_code == 404
        assert Client().get(reverse("portal_calendar_feed", args=["guess"])).status_code == 404


class TestRequestsAndPreferences:
    def test_side_effect_report_flags_the_patient_for_staff(self, patient, staff_client):
        session = book(patient, date(2027, 1, 4), hour=11, now=at(date(2026, 12, 1)))
        client = portal_client(patient)
        client.post(reverse("portal_aftercare"), {"description": "Scalp warm and red since today"})
        report = SideEffectReport.objects.get(patient=patient)
        schedule = staff_client.get(reverse("schedule"), {"day": "2027-01-04"})
        [day] = schedule.context["schedule"].days
        [entry] = day.rows
        assert day.day == date(2027, 1, 4)
        assert ("danger", "Side effect reported by the patient") in entry["flags"]
        assert "Scalp warm and red" in schedule.content.decode()
        detail = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert "Side effect reported by the patient" in detail
        staff_client.post(
            reverse("resolve_side_effect", args=[report.pk]), {"note": "Called; fine"}
        )
        report.refresh_from_db()
        assert report.resolved_at and report.staff_note == "Called; fine"
        assert (
            "Side effect reported"
            not in staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        )
        assert session.pk

    def test_empty_side_effect_report_is_refused(self, patient):
        response = portal_client(patient).post(reverse("portal_aftercare"), {"description": " "})
        assert "description" in response.context["form"].errors

    def test_change_request_goes_to_staff_once(self, patient, staff_client):
        session = book(patient, date(2027, 3, 10))
        client = portal_client(patient)
        url = reverse("portal_request_change", args=[session.pk])
        client.post(url, {"kind": "reschedule", "message": "Any Friday in April"})
        again = client.post(url, {"kind": "cancel"})
        assert "already asked" in str(again.context["form"].errors)
        request = ChangeRequest.objects.get()
        detail = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
        assert "Any Friday in April" in detail
        assert "You asked to change this session" in page(client)
        staff_client.post(
            reverse("handle_change_request", args=[request.pk]), {"note": "Moved to 16 April"}
        )
        request.refresh_from_db()
        assert request.handled_by == staff_client.user

    def test_the_patient_is_told_the_answer_in_the_portal_and_by_message(
        self, patient, staff_client, django_capture_on_commit_callbacks
    ):
        from reminders.delivery import dispatch_due

        session = book(patient, date(2027, 3, 10))
        client = portal_client(patient)
        client.post(reverse("portal_request_change", args=[session.pk]), {"kind": "reschedule"})
        request = ChangeRequest.objects.get()
        dispatch_due()  # the booking confirmation goes first
        mail.outbox.clear()
        staff_client.post(
            reverse("handle_change_request", args=[request.pk]),
            {"note": "Moved to Friday 16 April, 10:00"},
        )
        html = page(client)
        assert "Your requests" in html and "Moved to Friday 16 April, 10:00" in html
        dispatch_due()
        [message] = mail.outbox
        assert message.subject == "The clinic has answered your request"
        assert "Moved to Friday 16 April, 10:00" in message.body
        assert "move the session" in message.body
        # Planning the session again (say, the move itself) does not withdraw the answer.
        reminder = Reminder.objects.get(kind="request_answered")
        assert reminder.state == "sent" and reminder.occasion == 1

    def test_the_database_holds_one_open_request_per_session(self, patient):
        from django.db import IntegrityError, transaction

        session = book(patient, date(2027, 3, 10))
        ChangeRequest.objects.create(patient=patient, session=session, kind="cancel")
        with pytest.raises(IntegrityError), transaction.atomic():
            ChangeRequest.objects.create(patient=patient, session=session, kind="reschedule")

    def test_preferences_take_effect_on_pending_reminders(self, patient):
        book(patient, date(2027, 3, 10))
        client = portal_client(patient)
        response = client.post(
            reverse("portal_preferences"),
            {
                "reminders_by_sms": "on",
                "phone": "+49 171 5550000",
                "time_zone": "Europe/Lisbon",
                "non_essential_opt_out": "on",
            },
        )
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.time_zone == "Europe/Lisbon" and not patient.reminders_by_email
        pending = set(Reminder.objects.filter(state="pending").values_list("kind", "channel"))
        # Essential ones only, by SMS now; the unsent confirmation goes by SMS too.
        assert pending == {
            ("booking_confirmation", "sms"),
            ("nsaid_stop", "sms"),
            ("aftercare", "sms"),
        }

    def test_preferences_validation(self, patient):
        response = portal_client(patient).post(
            reverse("portal_preferences"),
            {"reminders_by_sms": "on", "phone": "", "time_zone": "Europe/Berlin"},
        )
        assert "phone" in response.context["form"].errors

    def test_the_phone_is_read_in_the_country_the_patient_sets(self, patient):
        # Issue 17, item 1: a number typed without its country code is read in the patient's
        # country, which the patient can set here as the staff can on the record. The same
        # digits are a landline in Goslar read in Germany, a Turkish mobile read in Turkey.
        assert patient.country == "DE"
        client = portal_client(patient)
        form = {"reminders_by_sms": "on", "phone": "0532 123 45 67", "time_zone": "Europe/Istanbul"}
        assert client.post(reverse("portal_preferences"), form).status_code == 302
        patient.refresh_from_db()
        assert (patient.country, patient.phone_e164) == ("DE", "+495321234567")
        assert (
            client.post(reverse("portal_preferences"), {**form, "country": "TR"}).status_code == 302
        )
        patient.refresh_from_db()
        assert (patient.country, patient.phone_e164) == ("TR", "+905321234567")
        # Left out (an older page still open): the country stays; a bad code is a form error.
        client.post(reverse("portal_preferences"), {**form, "time_zone": "Europe/Berlin"})
        patient.refresh_from_db()
        assert patient.country == "TR" and patient.time_zone == "Europe/Berlin"
        response = client.post(reverse("portal_preferences"), {**form, "country": "XX"})
        assert response.status_code == 200 and "country" in response.context["form"].errors
        # A number that is no number in the country chosen is refused next to the phone.
        response = client.post(reverse("portal_preferences"), {**form, "phone": "0532 12"})
        assert "is not a valid phone number in TR" in response.context["form"].errors["phone"][0]

    def test_the_country_and_the_phone_refusal_in_the_patients_language(self, patient):
        patient.language = "de"
        patient.save()
        client = portal_client(patient)
        html = client.get(reverse("portal_preferences")).content.decode()
        assert "Land, in dem Sie wohnen" in html and 'value="TR"' in html
        response = client.post(
            reverse("portal_preferences"),
            {"reminders_by_sms": "on", "phone": "0170 12", "time_zone": "Europe/Berlin"},
        )
        assert "0170 12 ist keine gültige Telefonnummer in DE" in response.content.decode()


class TestQueryCounts:
    PAGES = ["portal_home", "portal_aftercare", "portal_follow_ups", "portal_preferences"]
    # home (and aftercare, which shares its selector): +1 for the next follow-up (issue 12);
    # every page +1 for the access log's INSERT (issue 13, audit.services.record_access);
    # follow-ups +1 for the photo consent (issue 14: no photos once it is withdrawn);
    # home -1: its open and answered change requests in one query (issue 18).
    MAX = {"portal_home": 8, "portal_aftercare": 8, "portal_follow_ups": 8, "portal_preferences": 6}

    def build(self, n):
        patient = PatientFactory()
        lot = ProductLotFactory()
        for k in range(n):
            day = date(2021, 1, 10) + timedelta(days=190 * k)
            session = book(patient, day, now=at(day - timedelta(days=10)))
            services.complete_session(
                session=session,
                vials=[(lot, 1)],
                completed_by=session.clinician,
                now=session.ends_at,
            )
            for follow_up in session.follow_ups.all():
                services.record_follow_up(
                    follow_up=follow_up,
                    status="done",
                    recorded_by=session.clinician,
                    hair_density_per_cm2=100 + k,
                    shared_with_patient=True,
                    photos=[("top", photo())],
                    now=at(follow_up.due_date),
                )
        book(patient, date(2027, 1, 6), now=at(date(2026, 12, 1)))
        patient_requests.report_side_effect(patient=patient, description="itch")
        return portal_client(patient)

    def test_portal_pages_cost_the_same_at_any_size(self, frozen, django_assert_max_num_queries):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        counts = []
        for n in (1, 4):
            client = self.build(n)
            sizes = {}
            for name in self.PAGES:
                with CaptureQueriesContext(connection) as ctx:
                    assert client.get(reverse(name)).status_code == 200
                sizes[name] = len(ctx.captured_queries)
            counts.append(sizes)
        assert counts[0] == counts[1]
        for name in self.PAGES:
            with django_assert_max_num_queries(self.MAX[name]):
                client.get(reverse(name))


class TestHomeNextSteps:
    """Issue 12, item 13: what comes next is on the home page, the phone is a tel: link."""

    def completed(self, patient, day=date(2027, 1, 2)):
        return complete(book(patient, day, hour=10, now=at(day - timedelta(days=30))))

    def test_next_follow_up_and_when_to_book_again(self, patient):
        self.completed(patient)
        html = page(portal_client(patient))
        assert 'id="next-follow-up"' in html
        assert "Aftercare check: <strong>Saturday 9 January 2027</strong>" in html
        # Six months after 2 January 2027.
        assert "book your next session from <strong>Friday 2 July 2027</strong>" in html

    def test_no_book_again_line_while_a_session_is_booked_or_the_gap_has_passed(self, frozen):
        booked = PatientFactory()
        book(booked, date(2027, 1, 11))
        assert 'id="book-again"' not in page(portal_client(booked))
        long_ago = PatientFactory()
        self.completed(long_ago, day=date(2026, 6, 1))
        assert 'id="book-again"' not in page(portal_client(long_ago))

    def test_the_homes_compiled_reads_are_the_orms(self, patient):
        """The home's reads compiled once (the live sessions with their protocol and site,
        the next follow-up, the open and newest answered requests) send the ORM's own
        statements and give the rows it gave."""
        from portal import selectors
        from treatments.models import LIVE_STATUSES, FollowUp, FollowUpStatus, TreatmentSession

        done = self.completed(patient)
        coming = book(patient, date(2027, 8, 2), hour=11)
        patient_requests.request_change(patient=patient, session=coming, kind="cancel")
        today = date(2027, 1, 4)
        sessions = list(
            TreatmentSession.objects.filter(patient=patient, status__in=LIVE_STATUSES)
            .select_related("protocol", "site")
            .order_by("starts_at")
        )
        read = selectors._sessions(patient)
        assert read == sessions == [done, coming]
        assert [(s.protocol.name, s.site.name) for s in read] == [
            (s.protocol.name, s.site.name) for s in sessions
        ]
        sql, params = selectors._live_sessions(patient.pk).query.sql_with_params()
        compiled_sql, compiled_params = selectors._LIVE_SESSIONS._compiled["default", True][:2]
        keyed = [patient.pk if p == -1_734_022_117 else p for p in compiled_params]
        assert (compiled_sql, keyed) == (sql, list(params))
        orm = (
            FollowUp.objects.filter(
                session__patient=patient, status=FollowUpStatus.PLANNED, due_date__gte=today
            )
            .order_by("due_date", "id")
            .first()
        )
        found = selectors._next_follow_up(patient, today)
        assert found == orm and (found.kind, found.due_date) == (orm.kind, orm.due_date)
        assert selectors._next_follow_up(patient, date(2030, 1, 1)) is None
        sql, params = selectors._next_follow_up_values(patient.pk, today).query.sql_with_params()
        assert selectors._NEXT_FOLLOW_UP.sql_with_params(patient_id=patient.pk, today=today) == (
            sql,
            list(params),
        )
        requested, answered = patient_requests.open_and_answered(patient)
        assert requested == {coming.pk} and answered == []
        wide = patient_requests.open_and_answered(patient, limit=6)  # through the ORM
        assert wide == (requested, answered)

    def test_the_clinic_phone_is_a_tel_link(self, patient):
        html = page(portal_client(patient))
        assert 'href="tel:+49301234567"' in html

    def test_the_wait_for_advice_line_goes_once_the_advice_is_recorded(self, frozen):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        session = book(patient, date(2027, 2, 10), hour=10)
        client = portal_client(patient)
        assert "please wait for the clinic" in page(client)
        services.record_nsaid_decision(
            session=session,
            decision="Keep taking it; no change.",
            clinician=session.clinician,
        )
        html = page(client)
        assert "please wait for the clinic" not in html
        assert "the clinic's advice: Keep taking it; no change." in html


class TestTimeZonePicker:
    def test_only_places_common_first(self):
        from ui.time_zones import geographic_zones

        zones = geographic_zones()
        assert zones[0] == "Europe/Berlin"
        assert zones.index("America/New_York") < zones.index("Africa/Abidjan")
        for odd in ("Factory", "localtime", "UTC", "Etc/GMT+5", "US/Eastern", "posixrules"):
            assert odd not in zones
        assert "Pacific/Auckland" in zones

    def test_preferences_offer_a_searchable_list_and_refuse_odd_zones(self, patient):
        client = portal_client(patient)
        html = page(client, "portal_preferences")
        assert 'list="id_time_zone-choices"' in html
        assert '<option value="Factory">' not in html
        assert '<option value="Europe/Lisbon"></option>' in html
        data = {"reminders_by_email": "on", "time_zone": "Factory"}
        response = client.post(reverse("portal_preferences"), data)
        assert "Choose a place from the list" in response.content.decode()
        response = client.post(reverse("portal_preferences"), {**data, "time_zone": "Asia/Tokyo"})
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.time_zone == "Asia/Tokyo"

    def test_a_zone_already_on_file_stays_valid(self, frozen):
        patient = PatientFactory(time_zone="UTC")
        client = portal_client(patient)
        data = {"reminders_by_email": "on", "time_zone": "UTC"}
        assert client.post(reverse("portal_preferences"), data).status_code == 302
