"""treatments.services: booking, moving, cancelling, completing; every refusal code."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import (
    NOW,
    PatientFactory,
    ProductLotFactory,
    RoomFactory,
    at,
    book,
    clinician,
    staff,
)
from treatments import selectors, services
from treatments.models import (
    FollowUpPhoto,
    FollowUpStatus,
    ProductLot,
    ProtocolVersion,
    SessionStatus,
)

pytestmark = pytest.mark.django_db


def refusal(excinfo) -> tuple[str, str]:
    err = excinfo.value
    return err.code, err.messages[0]


def complete(session, lot=None, now=None):
    return services.complete_session(
        session=session,
        vials=[(lot or ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=now or session.ends_at,
    )


class TestBook:
    def test_booking_stores_the_rule_days_and_plans_follow_ups(self):
        session = book(day=date(2027, 3, 10))
        assert session.status == SessionStatus.SCHEDULED
        assert session.local_date == date(2027, 3, 10)
        assert session.gap_until == date(2027, 9, 10)
        assert session.protocol.name == "Standard protocol v1"
        due = {f.kind: f.due_date for f in session.follow_ups.all()}
        assert due == {
            "aftercare_check": date(2027, 3, 17),
            "early_result": date(2027, 6, 10),
            "assessment": date(2027, 9, 10),
            "long_term": date(2028, 3, 10),
        }
        assert session.nsaid_window().first_day == date(2027, 3, 7)

    def test_in_the_past(self):
        with pytest.raises(ValidationError) as exc:
            book(day=date(2027, 1, 4), hour=8)  # an hour before NOW
        assert exc.value.code == "in_the_past"

    def test_end_before_start(self):
        with pytest.raises(ValidationError) as exc:
            book(minutes=0)
        assert exc.value.code == "invalid_times"

    def test_naive_times_are_a_programming_error(self):
        doctor = clinician()
        with pytest.raises(ValueError):
            services.book_session(
                patient=PatientFactory(),
                starts_at=datetime(2027, 3, 10, 10),
                ends_at=datetime(2027, 3, 10, 11),
                clinician=doctor,
                room=RoomFactory(),
                booked_by=doctor,
                now=NOW,
            )


class TestSixMonthRule:
    def test_four_months_later_is_refused_naming_the_earliest_date(self):
        patient = PatientFactory()
        book(patient, date(2027, 3, 10))
        with pytest.raises(ValidationError) as exc:
            book(patient, date(2027, 7, 10))
        code, message = refusal(exc)
        assert code == "session_gap"
        assert "Friday 10 September 2027" in message
        assert "Wednesday 10 March 2027" in message
        assert exc.value.params["earliest_date"] == date(2027, 9, 10)

    def test_exact_day_six_months_on_is_allowed_the_day_before_is_not(self):
        patient = PatientFactory()
        book(patient, date(2027, 3, 10))
        with pytest.raises(ValidationError) as exc:
            book(patient, date(2027, 9, 9), hour=17)
        assert exc.value.code == "session_gap"
        assert book(patient, date(2027, 9, 10), hour=8).local_date == date(2027, 9, 10)

    def test_the_clinic_day_counts_not_the_utc_day(self):
        # Midnight in Berlin on 10 Sep is still 9 Sep in UTC: the clinic's calendar decides.
        patient = PatientFactory()
        book(patient, date(2027, 3, 10))
        session = book(patient, date(2027, 9, 10), hour=0, minutes=30)
        assert session.starts_at.astimezone(ZoneInfo("UTC")).date() == date(2027, 9, 9)
        assert session.local_date == date(2027, 9, 10)

    def test_31_august_to_28_february(self):
        patient = PatientFactory()
        book(patient, date(2027, 8, 31))
        with pytest.raises(ValidationError):
            book(patient, date(2028, 2, 28))
        assert book(patient, date(2028, 2, 29)).local_date == date(2028, 2, 29)

    def test_inserting_before_an_existing_session(self):
        patient = PatientFactory()
        book(patient, date(2027, 9, 10))
        with pytest.raises(ValidationError) as exc:
            book(patient, date(2027, 3, 11))
        assert exc.value.code == "session_gap"
        assert exc.value.params["earliest_date"] == date(2028, 3, 10)
        assert book(patient, date(2027, 3, 10)).local_date == date(2027, 3, 10)

    def test_cancelled_and_no_show_sessions_do_not_count(self):
        patient = PatientFactory()
        first = book(patient, date(2027, 3, 10))
        services.cancel_session(session=first, reason="Patient ill", cancelled_by=first.booked_by)
        second = book(patient, date(2027, 4, 10))
        services.mark_no_show(session=second, recorded_by=second.booked_by, now=second.ends_at)
        third = book(patient, date(2027, 5, 10), now=second.ends_at)
        assert third.status == SessionStatus.SCHEDULED

    def test_completed_sessions_count(self):
        patient = PatientFactory()
        first = book(patient, date(2027, 3, 10))
        complete(first)
        with pytest.raises(ValidationError) as exc:
            book(patient, date(2027, 5, 10), now=first.ends_at)
        assert exc.value.code == "session_gap"

    def test_other_patients_are_not_affected(self):
        book(PatientFactory(), date(2027, 3, 10))
        assert book(PatientFactory(), date(2027, 3, 11))

    def test_next_session_eligibility(self):
        patient = PatientFactory()
        today = date(2027, 1, 4)
        assert selectors.next_session_eligibility(patient, today=today).earliest_day == today
        book(patient, date(2027, 3, 10))
        eligibility = selectors.next_session_eligibility(patient, today=today)
        assert eligibility.earliest_day == date(2027, 9, 10)
        assert "10 March 2027" in eligibility.reason


class TestSlots:
    def test_clinician_double_booking(self):
        doctor = clinician()
        book(day=date(2027, 3, 10), hour=10, clinician_user=doctor)
        with pytest.raises(ValidationError) as exc:
            book(day=date(2027, 3, 10), hour=10, minutes=30, clinician_user=doctor)
        code, message = refusal(exc)
        assert code == "slot_taken"
        assert "clinician" in message

    def test_room_double_booking(self):
        room = RoomFactory()
        book(day=date(2027, 3, 10), hour=10, room=room)
        with pytest.raises(ValidationError) as exc:
            # 10:59 still overlaps the 10:00–11:00 session.
            services.book_session(
                patient=PatientFactory(),
                starts_at=at(date(2027, 3, 10), 10, 59),
                ends_at=at(date(2027, 3, 10), 12),
                clinician=clinician(),
                room=room,
                booked_by=staff(),
                now=NOW,
            )
        assert refusal(exc) == (
            "slot_taken",
            "The room is already booked at that time; choose another time or room.",
        )

    def test_back_to_back_is_fine(self):
        doctor, room = clinician(), RoomFactory()
        book(day=date(2027, 3, 10), hour=10, clinician_user=doctor, room=room)
        assert book(day=date(2027, 3, 10), hour=11, clinician_user=doctor, room=room)

    def test_a_cancelled_session_frees_its_slot(self):
        doctor = clinician()
        first = book(day=date(2027, 3, 10), clinician_user=doctor)
        services.cancel_session(session=first, reason="Moved away", cancelled_by=doctor)
        assert book(day=date(2027, 3, 10), clinician_user=doctor)


class TestNsaidNotice:
    def test_short_notice_needs_the_patients_confirmation(self):
        # NOW is 4 Jan; a session on 7 Jan has its window start on 4 Jan: today.
        with pytest.raises(ValidationError) as exc:
            book(day=date(2027, 1, 7))
        code, message = refusal(exc)
        assert code == "nsaid_window_started"
        assert "Monday 4 January 2027" in message  # the window's first day
        assert "Friday 8 January 2027" in message  # the first date without short notice
        session = book(day=date(2027, 1, 7), nsaid_free_confirmed=True)
        assert session.nsaid_free_confirmed_at == NOW

    def test_one_more_day_of_notice_needs_nothing(self):
        session = book(day=date(2027, 1, 8))
        assert session.nsaid_free_confirmed_at is None

    def test_the_patients_own_calendar_decides(self):
        # At 13:00 on 4 Jan in Berlin it is already 01:00 on 5 Jan in Auckland. A session on
        # 8 Jan, 08:00 Berlin (20:00 in Auckland) has its window start on 5 Jan: "today" for
        # the Auckland patient, tomorrow for the Berliner.
        now = at(date(2027, 1, 4), 13)
        auckland = PatientFactory(time_zone="Pacific/Auckland")
        with pytest.raises(ValidationError) as exc:
            book(auckland, date(2027, 1, 8), hour=8, now=now)
        assert exc.value.code == "nsaid_window_started"
        assert book(PatientFactory(), date(2027, 1, 8), hour=8, now=now)

    def test_prescribed_nsaid_at_short_notice_needs_a_clinician_decision(self):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        with pytest.raises(ValidationError) as exc:
            book(patient, date(2027, 1, 6), nsaid_free_confirmed=True)
        code, message = refusal(exc)
        assert code == "nsaid_review_required"
        assert "Aspirin 100 mg" in message
        session = book(patient, date(2027, 1, 6), nsaid_decision="Continue aspirin; cardiology")
        assert session.nsaid_decided_at == NOW
        assert not session.nsaid_review_pending

    def test_only_a_clinician_records_the_decision(self):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        with pytest.raises(PermissionDenied):
            book(patient, date(2027, 3, 10), booked_by=staff(), nsaid_decision="Stop it")

    def test_prescribed_nsaid_with_notice_is_booked_and_flagged(self):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        session = book(patient, date(2027, 3, 10))
        assert session.nsaid_review_pending
        with pytest.raises(ValidationError) as exc:
            complete(session)
        assert exc.value.code == "nsaid_review_required"
        services.record_nsaid_decision(
            session=session, decision="Pause 3 days, GP agreed", clinician=session.clinician
        )
        assert complete(session).status == SessionStatus.COMPLETED


class TestLots:
    @pytest.mark.parametrize(
        ("lot_kwargs", "reason"),
        [
            ({"expiry_date": date(2027, 3, 9)}, "expired on 09 March 2027"),
            ({"certificate_issuer": ""}, "certificate"),
            ({"certificate_file": None}, "certificate"),
            ({"certificate_valid_until": date(2027, 3, 1)}, "certificate expired on 01 March 2027"),
        ],
    )
    def test_unusable_lots_are_refused(self, lot_kwargs, reason):
        session = book(day=date(2027, 3, 10))
        lot = ProductLotFactory(**lot_kwargs)
        with pytest.raises(ValidationError) as exc:
            complete(session, lot)
        code, message = refusal(exc)
        assert code == "lot_not_usable"
        assert lot.lot_number in message and reason in message
        session.refresh_from_db()
        assert session.status == SessionStatus.SCHEDULED
        assert not session.vials_used.exists()

    def test_a_lot_valid_on_the_session_day_is_recorded_and_traceable(self):
        lot = ProductLotFactory(
            expiry_date=date(2027, 3, 10), certificate_valid_until=date(2027, 3, 10)
        )
        session = book(day=date(2027, 3, 10))
        complete(session, lot)
        assert list(selectors.lot_recipients(lot)) == [session]


class TestLifecycle:
    def test_reschedule_moves_window_and_planned_follow_ups(self):
        session = book(day=date(2027, 3, 10))
        moved = services.reschedule_session(
            session=session,
            starts_at=at(date(2027, 4, 14), 9),
            ends_at=at(date(2027, 4, 14), 10),
            changed_by=session.booked_by,
            now=NOW,
        )
        assert moved.local_date == date(2027, 4, 14)
        assert moved.gap_until == date(2027, 10, 14)
        assert moved.nsaid_window().first_day == date(2027, 4, 11)
        assert moved.follow_ups.get(kind="assessment").due_date == date(2027, 10, 14)

    def test_reschedule_by_an_hour_does_not_clash_with_itself(self):
        session = book(day=date(2027, 3, 10), hour=10)
        moved = services.reschedule_session(
            session=session,
            starts_at=at(date(2027, 3, 10), 10, 30),
            ends_at=at(date(2027, 3, 10), 11, 30),
            changed_by=session.booked_by,
            now=NOW,
        )
        assert moved.starts_at == at(date(2027, 3, 10), 10, 30)

    def test_reschedule_keeps_the_gap(self):
        patient = PatientFactory()
        book(patient, date(2027, 3, 10))
        later = book(patient, date(2027, 10, 1))
        with pytest.raises(ValidationError) as exc:
            services.reschedule_session(
                session=later,
                starts_at=at(date(2027, 8, 1)),
                ends_at=at(date(2027, 8, 1), 11),
                changed_by=later.booked_by,
                now=NOW,
            )
        assert exc.value.code == "session_gap"

    def test_cancel_needs_a_reason_and_cancels_follow_ups(self):
        session = book()
        with pytest.raises(ValidationError) as exc:
            services.cancel_session(session=session, reason="  ", cancelled_by=session.booked_by)
        assert exc.value.code == "reason_required"
        services.cancel_session(session=session, reason="Flu", cancelled_by=session.booked_by)
        session.refresh_from_db()
        assert session.status == SessionStatus.CANCELLED
        assert set(session.follow_ups.values_list("status", flat=True)) == {"cancelled"}
        with pytest.raises(ValidationError) as exc:
            services.reschedule_session(
                session=session,
                starts_at=at(date(2027, 5, 1)),
                ends_at=at(date(2027, 5, 1), 11),
                changed_by=session.booked_by,
                now=NOW,
            )
        assert exc.value.code == "invalid_status"

    def test_complete_before_start_and_without_vials(self):
        session = book()
        with pytest.raises(ValidationError) as exc:
            complete(session, now=session.starts_at - timedelta(minutes=1))
        assert exc.value.code == "not_started"
        with pytest.raises(ValidationError) as exc:
            services.complete_session(
                session=session, vials=[], completed_by=session.clinician, now=session.ends_at
            )
        assert exc.value.code == "vials_required"

    def test_front_desk_cannot_complete(self):
        session = book()
        with pytest.raises(PermissionDenied):
            services.complete_session(
                session=session,
                vials=[(ProductLotFactory(), 1)],
                completed_by=staff(),
                now=session.ends_at,
            )

    def test_no_show_only_after_the_start(self):
        session = book()
        with pytest.raises(ValidationError) as exc:
            services.mark_no_show(session=session, recorded_by=session.booked_by, now=NOW)
        assert exc.value.code == "not_started"

    def test_a_new_protocol_version_never_moves_existing_sessions(self):
        patient = PatientFactory()
        old = book(patient, date(2027, 3, 10))
        ProtocolVersion.objects.create(
            name="Stricter v2",
            effective_from=date(2027, 1, 4),
            gap_months=8,
            follow_up_plan=[{"kind": "assessment", "months": 8}],
        )
        old.refresh_from_db()
        assert (old.gap_months, old.gap_until) == (6, date(2027, 9, 10))
        assert old.follow_ups.get(kind="assessment").due_date == date(2027, 9, 10)
        new = book(day=date(2027, 3, 10))
        assert new.protocol.name == "Stricter v2"
        assert new.gap_until == date(2027, 11, 10)
        assert list(new.follow_ups.values_list("kind", flat=True)) == ["assessment"]
        # The old session's own 6-month gap still governs what it blocks.
        assert book(patient, date(2027, 9, 10), now=NOW).gap_months == 8


def on_due_day(follow_up):
    """Noon on the follow-up's due day: a follow-up is recorded in its window, not before."""
    return at(follow_up.due_date, 12)


class TestFollowUps:
    def test_record_done_with_measurements(self):
        session = complete(book())
        follow_up = session.follow_ups.get(kind="early_result")
        recorded = services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=session.clinician,
            hair_density_per_cm2="142.5",
            shaft_thickness_um="61.0",
            patient_rating=7,
            notes="Visible regrowth at the crown",
            now=on_due_day(follow_up),
        )
        recorded.refresh_from_db()
        assert recorded.status == FollowUpStatus.DONE
        assert str(recorded.hair_density_per_cm2) == "142.5"
        assert recorded.seen_at is not None

    def test_rating_outside_one_to_ten_is_refused(self):
        session = complete(book())
        follow_up = session.follow_ups.get(kind="early_result")
        with pytest.raises(ValidationError) as exc:
            services.record_follow_up(
                follow_up=follow_up,
                status=FollowUpStatus.DONE,
                recorded_by=session.clinician,
                patient_rating=11,
                now=on_due_day(follow_up),
            )
        assert "patient_rating" in exc.value.message_dict
        follow_up.refresh_from_db()
        assert follow_up.status == FollowUpStatus.PLANNED

    def test_done_needs_a_carried_out_session_and_a_clinician(self):
        session = book()
        follow_up = session.follow_ups.get(kind="aftercare_check")
        with pytest.raises(ValidationError) as exc:
            services.record_follow_up(
                follow_up=follow_up,
                status=FollowUpStatus.DONE,
                recorded_by=session.clinician,
                now=on_due_day(follow_up),
            )
        assert exc.value.code == "session_not_completed"
        complete(session)
        # The front desk cannot record a done follow-up: findings are a clinician's.
        with pytest.raises(PermissionDenied):
            services.record_follow_up(
                follow_up=follow_up,
                status=FollowUpStatus.DONE,
                recorded_by=staff(),
                now=on_due_day(follow_up),
            )
        recorded = services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=session.clinician,
            now=on_due_day(follow_up),
        )
        assert recorded.seen_by == recorded.recorded_by == session.clinician

    def test_missed(self):
        session = complete(book())
        follow_up = session.follow_ups.get(kind="aftercare_check")
        desk = staff()
        services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.MISSED,
            recorded_by=desk,
            now=on_due_day(follow_up),
        )
        follow_up.refresh_from_db()
        assert follow_up.status == FollowUpStatus.MISSED
        assert (follow_up.recorded_by, follow_up.seen_by) == (desk, None)

    @pytest.mark.parametrize(
        ("content", "name"), [(b"not an image", "scalp.png"), (None, "scalp.gif")]
    )
    def test_photos_are_checked_by_the_service_too(self, content, name):
        import io

        from django.core.files.uploadedfile import SimpleUploadedFile
        from PIL import Image

        if content is None:  # a real image, but not a type the clinic keeps
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8)).save(buffer, "GIF")
            content = buffer.getvalue()
        session = complete(book())
        follow_up = session.follow_ups.get(kind="aftercare_check")
        with pytest.raises(ValidationError) as exc:
            services.record_follow_up(
                follow_up=follow_up,
                status=FollowUpStatus.DONE,
                recorded_by=session.clinician,
                photos=[("top", SimpleUploadedFile(name, content))],
                now=on_due_day(follow_up),
            )
        assert "JPEG, PNG or WebP" in exc.value.message_dict["image"][0]
        assert not FollowUpPhoto.objects.exists()

    def test_unknown_status(self):
        session = complete(book())
        with pytest.raises(ValidationError) as exc:
            services.record_follow_up(
                follow_up=session.follow_ups.first(),
                status="planned",
                recorded_by=session.clinician,
            )
        assert exc.value.code == "invalid_status"

    def test_repeat_session_without_assessment_is_flagged(self):
        patient = PatientFactory()
        first = complete(book(patient, date(2027, 3, 10)))
        second = book(patient, date(2027, 9, 10), now=first.ends_at)
        assert selectors.previous_assessment_missing(second)
        assessment = first.follow_ups.get(kind="assessment")
        services.record_follow_up(
            follow_up=assessment,
            status=FollowUpStatus.DONE,
            recorded_by=first.clinician,
            now=on_due_day(assessment),
        )
        assert not selectors.previous_assessment_missing(second)


@pytest.mark.parametrize(
    "lot_kwargs",
    [
        {},
        {"expiry_date": date(2027, 1, 3)},
        {"certificate_valid_until": date(2027, 1, 3)},
        {"certificate_issuer": ""},
        {"certificate_file": ""},
    ],
)
def test_the_lots_offered_are_exactly_the_usable_ones(lot_kwargs):
    """usable_on (the query a form offers) and unusable_reason (the refusal) are one rule."""
    day = date(2027, 1, 4)
    lot = ProductLotFactory(**lot_kwargs)
    offered = ProductLot.objects.usable_on(day).filter(pk=lot.pk).exists()
    assert offered == (lot.unusable_reason(day) is None)
