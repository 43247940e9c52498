"""Issue 12, part A: what the front office hits on a real day (vials of one lot, the Move
form's day, check-in and no-show, NSAID decisions at short notice, the follow-up review,
booking guardrails, closing what patients report and ask)."""

import csv
import io
import uuid
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.factories import (
    NOW,
    PatientFactory,
    ProductLotFactory,
    RoomFactory,
    at,
    book,
    clinician,
)
from treatments import patient_requests, selectors, services
from treatments.models import ChangeRequest, SessionStatus

pytestmark = pytest.mark.django_db


def started_session(**kwargs):
    """A session at 08:00 on NOW's day (already started at 09:00), booked in December."""
    return book(day=date(2027, 1, 4), hour=8, now=at(date(2026, 12, 20), 9), **kwargs)


class TestVialsOfOneLot:
    """Item 2: lot A × 2 plus lot A × 1 is 3 vials of lot A, never 2."""

    def test_the_service_adds_up_lines_of_one_lot(self):
        session = started_session()
        lot_a, lot_b = ProductLotFactory(), ProductLotFactory()
        services.complete_session(
            session=session,
            vials=[(lot_a, 2), (lot_b, 1), (lot_a, 1)],
            completed_by=session.clinician,
            now=NOW,
        )
        used = {v.lot_id: v.vials for v in session.vials_used.all()}
        assert used == {lot_a.pk: 3, lot_b.pk: 1}

    def test_a_line_without_vials_is_refused_whatever_its_place(self):
        session = started_session()
        lot = ProductLotFactory()
        with pytest.raises(ValidationError) as refused:
            services.complete_session(
                session=session, vials=[(lot, 2), (lot, 0)], completed_by=session.clinician, now=NOW
            )
        assert refused.value.code == "vials_required"

    def test_the_form_keeps_the_second_line_of_the_same_lot(self, clinician_client):
        session = started_session()
        lot = ProductLotFactory()
        response = clinician_client.post(
            reverse("session_complete", args=[session.pk]),
            {"lot": lot.pk, "vials": 2, "second_lot": lot.pk, "second_vials": 1},
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == SessionStatus.COMPLETED
        assert [(v.lot_id, v.vials) for v in session.vials_used.all()] == [(lot.pk, 3)]


class TestMoveForm:
    """Item 3: the Move form opens with the session's day, in the ISO form a date input takes."""

    def test_the_day_field_carries_the_sessions_day(self, staff_client):
        session = book(day=date(2027, 12, 16))
        page = staff_client.get(reverse("session_reschedule", args=[session.pk])).content.decode()
        assert 'type="date"' in page and 'value="2027-12-16"' in page
        assert "16/12/2027" not in page


class TestCheckInAndNoShow:
    """Item 8: the buttons only when they apply; a no-show is confirmed; clear status words."""

    def test_check_in_only_on_the_day_and_not_twice(self, staff_client):
        later = book(day=date(2027, 3, 10))
        page = staff_client.get(reverse("session_detail", args=[later.pk])).content.decode()
        assert 'id="check-in"' not in page and 'id="no-show"' not in page

        today = book(day=date(2027, 1, 4), hour=11, now=at(date(2026, 12, 20), 9))
        page = staff_client.get(reverse("session_detail", args=[today.pk])).content.decode()
        assert 'id="check-in"' in page
        assert 'id="no-show"' not in page  # it has not started yet

        staff_client.post(reverse("session_check_in", args=[today.pk]))
        page = staff_client.get(reverse("session_detail", args=[today.pk])).content.decode()
        assert 'id="check-in"' not in page
        assert "Checked in 09:00" in page  # NOW, on the clinic's clock

    def test_a_second_check_in_keeps_the_first_time(self):
        session = started_session()
        services.check_in_session(session=session, checked_in_by=session.clinician, now=NOW)
        with pytest.raises(ValidationError) as refused:
            services.check_in_session(
                session=session, checked_in_by=session.clinician, now=at(date(2027, 1, 4), 10)
            )
        assert refused.value.code == "already_checked_in"
        session.refresh_from_db()
        assert session.checked_in_at == NOW

    def test_a_checked_in_patient_is_no_no_show(self):
        session = started_session()
        services.check_in_session(session=session, checked_in_by=session.clinician, now=NOW)
        with pytest.raises(ValidationError) as refused:
            services.mark_no_show(session=session, recorded_by=session.clinician, now=NOW)
        assert refused.value.code == "checked_in"

    def test_no_show_asks_for_confirmation(self, staff_client):
        session = started_session()
        page = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
        assert 'id="no-show"' in page
        # The button opens a confirmation; a POST without it changes nothing.
        response = staff_client.post(reverse("session_no_show", args=[session.pk]))
        assert response.status_code == 200 and "Yes, mark as a no-show" in response.content.decode()
        session.refresh_from_db()
        assert session.status == SessionStatus.SCHEDULED
        staff_client.post(reverse("session_no_show", args=[session.pk]), {"confirmed": "yes"})
        session.refresh_from_db()
        assert session.status == SessionStatus.NO_SHOW

    def test_the_schedule_says_checked_in_with_the_time(self, staff_client):
        session = started_session()
        services.check_in_session(
            session=session, checked_in_by=session.clinician, now=at(date(2027, 1, 4), 8, 42)
        )
        page = staff_client.get(reverse("schedule"), {"day": "2027-01-04"}).content.decode()
        assert "Checked in 08:42" in page


class TestBookingGuardrails:
    """Item 11: clinicians only; a warning far ahead; free times when a clash is refused."""

    def booking(self, session_like, **overrides):
        return {
            "day": "2027-03-10",
            "time": "10:00",
            "duration": "60",
            "clinician": session_like.clinician_id,
            "room": session_like.room_id,
            "booking_key": str(uuid.uuid4()),
            **overrides,
        }

    def test_only_clinicians_are_offered_and_accepted(self, clinic_admin_client):
        admin = clinic_admin_client.user
        User.objects.filter(pk=admin.pk).update(is_superuser=True)
        doctor = clinician(first_name="Dana", last_name="Doctor")
        patient = PatientFactory()
        page = clinic_admin_client.get(reverse("session_book", args=[patient.pk]))
        offered = list(page.context["form"].fields["clinician"].queryset)
        assert offered == [doctor]
        starts = at(date(2027, 3, 10))
        with pytest.raises(ValidationError) as refused:
            services.book_session(
                patient=patient,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                clinician=User.objects.get(pk=admin.pk),
                room=RoomFactory(),
                booked_by=doctor,
                now=NOW,
            )
        assert refused.value.code == "not_a_clinician"

    def test_more_than_two_years_ahead_asks_first(self, staff_client):
        other = book(day=date(2027, 2, 1))
        patient = PatientFactory()
        url = reverse("session_book", args=[patient.pk])
        # 4 January 2029 is exactly two years ahead: booked without a question.
        response = staff_client.post(url, self.booking(other, day="2029-01-04"))
        assert response.status_code == 302
        patient = PatientFactory()
        url = reverse("session_book", args=[patient.pk])
        response = staff_client.post(url, self.booking(other, day="2029-01-05"))
        assert response.status_code == 200
        assert "more than 2 years ahead" in response.context["form"].errors["day"][0]
        assert 'type="checkbox" name="far_ahead_confirmed"' in response.content.decode()
        assert not patient.sessions.exists()
        data = self.booking(other, day="2029-01-05", far_ahead_confirmed="on")
        assert staff_client.post(url, data).status_code == 302
        assert patient.sessions.get().local_date == date(2029, 1, 5)

    def test_a_clash_shows_free_times(self, staff_client):
        taken = book(day=date(2027, 3, 10), hour=10)
        book(day=date(2027, 3, 10), hour=11, clinician_user=taken.clinician)
        patient = PatientFactory()
        response = staff_client.post(
            reverse("session_book", args=[patient.pk]), self.booking(taken, time="10:30")
        )
        assert "already booked" in response.context["form"].errors["clinician"][0]
        hints = list(response.context["free_slots"])
        # 08:00-09:00 and 08:15..; never 10:00-12:00 (taken), and an hour must fit.
        assert hints == ["08:00", "08:15", "08:30", "08:45"]
        assert 'id="free-slots"' in response.content.decode()

    def test_free_slots_skip_busy_times_and_the_past(self):
        taken = book(day=date(2027, 1, 4), hour=10, now=at(date(2026, 12, 20), 9))
        slots = selectors.free_slots(
            day=date(2027, 1, 4),
            length=timedelta(minutes=60),
            clinician_id=taken.clinician_id,
            room_id=taken.room_id,
            site_tz=services.clinic_tz(),
            now=at(date(2027, 1, 4), 9, 5),
            limit=3,
        )
        # 09:15 would end at 10:15, inside the 10:00 session; the next free start is 11:00.
        assert [f"{t:%H:%M}" for t in slots] == ["11:00", "11:15", "11:30"]


class TestClosingWhatPatientsSend:
    """Item 12: closing a side effect or a change request needs a note; a handled request
    keeps its outcome for the patient (the portal's answered_requests)."""

    def test_a_side_effect_is_not_closed_without_a_note(self, staff_client):
        session = book(day=date(2027, 3, 10))
        report = patient_requests.report_side_effect(
            patient=session.patient, description="Itchy scalp"
        )
        url = reverse("resolve_side_effect", args=[report.pk])
        response = staff_client.post(url, {"note": "  "})
        assert response.status_code == 200 and "note" in response.context["form"].errors
        report.refresh_from_db()
        assert report.resolved_at is None
        staff_client.post(url, {"note": "Called; cool compress advised"})
        report.refresh_from_db()
        assert report.resolved_by == staff_client.user
        assert report.staff_note == "Called; cool compress advised"
        with pytest.raises(ValidationError) as refused:
            patient_requests.resolve_side_effect(
                report=report, resolved_by=staff_client.user, note="again"
            )
        assert refused.value.code == "already_closed"

    def test_handled_records_the_outcome_for_the_patient(
        self, staff_client, django_assert_num_queries
    ):
        session = book(day=date(2027, 3, 10))
        change = patient_requests.request_change(
            patient=session.patient, session=session, kind="reschedule", message="April?"
        )
        url = reverse("handle_change_request", args=[change.pk])
        # The patient page's bare "Handled" button now asks for the outcome first.
        response = staff_client.post(url)
        assert response.status_code == 200 and not response.context["form"].errors
        change.refresh_from_db()
        assert change.handled_at is None
        staff_client.post(url, {"note": "Moved to Friday 16 April, 10:00"})
        change.refresh_from_db()
        assert change.handled_by == staff_client.user
        assert change.outcome == "Moved to Friday 16 April, 10:00"
        [answered] = patient_requests.answered_requests(session.patient)
        assert answered.outcome == "Moved to Friday 16 April, 10:00"
        # The portal's home reads the open requests and the answered ones in one query.
        again = patient_requests.request_change(
            patient=session.patient, session=session, kind="cancel", message="After all"
        )
        with django_assert_num_queries(1):
            requested, answered_too = patient_requests.open_and_answered(session.patient)
            assert answered_too[0].session.site.name  # read with it
        assert requested == {session.pk} and answered_too == [change]
        assert again.handled_at is None

    def test_the_service_and_the_database_refuse_a_handled_request_without_outcome(self):
        from django.db import IntegrityError, transaction

        session = book(day=date(2027, 3, 10))
        change = patient_requests.request_change(
            patient=session.patient, session=session, kind="cancel"
        )
        with pytest.raises(ValidationError) as refused:
            patient_requests.handle_change_request(
                change_request=change, handled_by=session.clinician, outcome=" "
            )
        assert refused.value.code == "note_required"
        with pytest.raises(IntegrityError), transaction.atomic():
            ChangeRequest.objects.filter(pk=change.pk).update(handled_at=NOW)


def carried_out(day=date(2026, 10, 1)):
    """A session carried out on `day` (its follow-ups planned by the default protocol)."""
    session = book(day=day, now=at(day - timedelta(days=10), 9))
    return services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=at(day, 12),
    )


class TestFollowUpReview:
    """Item 10: "Due now" (the protocol's window) apart from "Upcoming", a link to record
    each, no recording long before it is due, the day seen, the CSV, and a first page that
    is useful with nothing overdue."""

    def test_the_window_comes_from_the_protocol(self):
        session = carried_out(date(2026, 10, 1))
        early = session.follow_ups.get(kind="early_result")  # due 1 Jan 2027
        assert (early.due_from, early.due_until) == (date(2026, 12, 18), date(2027, 1, 15))
        aftercare = session.follow_ups.get(kind="aftercare_check")  # due 8 Oct, session 1 Oct
        assert aftercare.due_from == date(2026, 10, 1)  # never before the session day

    def test_due_now_and_upcoming_are_apart(self, clinic_admin_client):
        session = carried_out(date(2026, 10, 1))
        # At NOW (4 Jan 2027): the 3-month one (due 1 Jan) is due now (and overdue); the
        # 6-month one (due 1 Apr) is upcoming.
        page = clinic_admin_client.get(reverse("follow_up_review"), {"status": "due_now"})
        assert [f["kind"] for f in page.context["page"]] == ["early_result"]
        assert page.context["counts"]["due_now"] == 1
        upcoming = clinic_admin_client.get(reverse("follow_up_review"), {"status": "upcoming"})
        # The 7-day check (due 8 Oct 2026, never recorded) is overdue, not upcoming.
        assert [f["kind"] for f in upcoming.context["page"]] == ["assessment", "long_term"]
        record = reverse("follow_up_record", args=[session.follow_ups.get(kind="early_result").pk])
        assert f'href="{record}"' in page.content.decode()

    def test_not_recorded_long_before_it_is_due(self):
        session = carried_out(date(2026, 10, 1))
        assessment = session.follow_ups.get(kind="assessment")  # due 1 Apr 2027, from 18 Mar
        for status in ("done", "missed"):
            with pytest.raises(ValidationError) as refused:
                services.record_follow_up(
                    follow_up=assessment, status=status, recorded_by=session.clinician, now=NOW
                )
            assert refused.value.code == "not_due_yet"
        services.record_follow_up(
            follow_up=assessment,
            status="done",
            recorded_by=session.clinician,
            now=at(date(2027, 3, 18), 9),
        )

    def test_the_day_seen_is_stored_and_checked(self, clinician_client):
        session = carried_out(date(2026, 10, 1))
        early = session.follow_ups.get(kind="early_result")
        url = reverse("follow_up_record", args=[early.pk])
        form = clinician_client.get(url).context["form"]
        assert form["seen_on"].value() == date(2027, 1, 4)  # today, for a change
        refused = clinician_client.post(
            url, {"status": "done", "seen_on": "2027-01-05", "version": 0}
        )
        assert "seen_on" in refused.context["form"].errors
        clinician_client.post(url, {"status": "done", "seen_on": "2026-12-30", "version": 0})
        early.refresh_from_db()
        assert early.status == "done" and early.seen_on == date(2026, 12, 30)
        assert early.revisions.get().seen_on == date(2026, 12, 30)

    def test_csv_phone_without_apostrophe_formulas_escaped(self, clinic_admin_client):
        session = carried_out(date(2026, 10, 1))
        patient = session.patient
        patient.phone = "+49 170 555 0101"
        patient.first_name = "=HYPERLINK(evil)"
        patient.last_name = "-cmd"
        patient.save()
        response = clinic_admin_client.get(reverse("follow_up_review_csv"), {"status": "all"})
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert rows[0]["phone"] == "+49 170 555 0101"
        assert rows[0]["patient"].startswith("'=")

    @pytest.mark.parametrize(
        ("cell", "written"),
        [
            ("+49 170 555 0101", "+49 170 555 0101"),
            ("-3.5", "-3.5"),
            ("(030) 1234", "(030) 1234"),
            ("+A1", "'+A1"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("=1+1", "'=1+1"),
            ("+", "'+"),
            ("\t=1", "'\t=1"),
        ],
    )
    def test_csv_cells(self, cell, written):
        from frontdesk.views.follow_ups import _csv_safe

        assert _csv_safe(cell) == written

    def test_the_first_page_shows_this_weeks_due_when_nothing_is_overdue(self, clinic_admin_client):
        # A session on 30 Dec 2026: its 7-day check is due Wed 6 Jan 2027, this week.
        session = book(day=date(2026, 12, 30), now=at(date(2026, 12, 20), 9))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=at(date(2026, 12, 30), 12),
        )
        response = clinic_admin_client.get(reverse("follow_up_review"))
        assert response.context["counts"]["overdue"] == 0
        assert response.context["status"] == "week"
        assert [f["kind"] for f in response.context["page"]] == ["aftercare_check"]
        assert 'id="nothing-overdue"' in response.content.decode()


class TestPrescribedNsaidAtShortNotice:
    """Item 9: reception books it as waiting for the clinician's decision; completing still
    needs the decision; fields that do not apply to the role are not shown; a clinician
    revises a decision with the history kept."""

    @pytest.fixture
    def patient(self):
        return PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")

    def booking(self, doctor, room, **overrides):
        # Thursday 7 January 2027: the NSAID pause (3 days before) began on 4 January.
        return {
            "day": "2027-01-07",
            "time": "10:00",
            "duration": "60",
            "clinician": doctor.pk,
            "room": room.pk,
            "booking_key": str(uuid.uuid4()),
            **overrides,
        }

    def test_reception_sees_only_what_it_can_fill(self, staff_client, clinician_client, patient):
        url = reverse("session_book", args=[patient.pk])
        desk = staff_client.get(url).context["form"].fields
        assert "await_nsaid_decision" in desk
        assert "nsaid_decision" not in desk and "nsaid_free_confirmed" not in desk
        doctor = clinician_client.get(url).context["form"].fields
        assert "nsaid_decision" in doctor and "nsaid_free_confirmed" not in doctor
        other = PatientFactory()
        plain = staff_client.get(reverse("session_book", args=[other.pk])).context["form"]
        assert "nsaid_free_confirmed" in plain.fields
        assert "await_nsaid_decision" not in plain.fields and "nsaid_decision" not in plain.fields

    def test_reception_books_it_waiting_and_completion_needs_the_decision(
        self, staff_client, patient
    ):
        doctor, room = clinician(), RoomFactory()
        url = reverse("session_book", args=[patient.pk])
        refused = staff_client.post(url, self.booking(doctor, room))
        assert refused.status_code == 200 and "waiting for the clinician" in str(
            refused.context["form"].errors
        )
        response = staff_client.post(url, self.booking(doctor, room, await_nsaid_decision="on"))
        assert response.status_code == 302
        session = patient.sessions.get()
        assert session.nsaid_decision_awaited and session.nsaid_review_pending
        page = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
        assert "Waiting for the clinician's decision" in page
        with pytest.raises(ValidationError) as refused_completion:
            services.complete_session(
                session=session,
                vials=[(ProductLotFactory(), 1)],
                completed_by=doctor,
                now=at(date(2027, 1, 7), 11),
            )
        assert refused_completion.value.code == "nsaid_review_required"
        services.record_nsaid_decision(
            session=session, decision="Continue; low dose.", clinician=doctor, now=NOW
        )
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=doctor,
            now=at(date(2027, 1, 7), 11),
        )

    def test_a_decision_is_revised_with_its_history(self, clinician_client, patient):
        session = book(patient, date(2027, 3, 10))
        url = reverse("session_nsaid_decision", args=[session.pk])
        clinician_client.post(url, {"decision": "Continue."})
        refused = clinician_client.post(url, {"decision": "Pause 7-9 March."})
        assert "reason" in refused.context["form"].errors
        clinician_client.post(url, {"decision": "Pause 7-9 March.", "reason": "Cardiology ok"})
        session.refresh_from_db()
        assert session.nsaid_decision == "Pause 7-9 March."
        history = list(session.nsaid_decisions.values_list("decision", "reason"))
        assert history == [("Continue.", ""), ("Pause 7-9 March.", "Cardiology ok")]
        page = clinician_client.get(reverse("session_detail", args=[session.pk])).content.decode()
        assert "Revise the decision" in page and "(revised: Cardiology ok)" in page

    def test_a_clash_on_the_move_form_shows_free_times(self, staff_client):
        taken = book(day=date(2027, 3, 10), hour=10)
        moving = book(day=date(2027, 3, 12), hour=10, clinician_user=taken.clinician)
        response = staff_client.post(
            reverse("session_reschedule", args=[moving.pk]),
            {
                "day": "2027-03-10",
                "time": "10:30",
                "duration": "60",
                "clinician": taken.clinician_id,
                "room": moving.room_id,
            },
        )
        assert "already booked" in response.context["form"].errors["clinician"][0]
        hints = list(response.context["free_slots"])
        assert hints == ["08:00", "08:15", "08:30", "08:45"]
