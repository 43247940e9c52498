"""Reminder timing in treatments.rules: patient-local clocks, DST, quiet hours, late bookings."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from treatments import rules
from treatments.rules import ProtocolTerms

TERMS = ProtocolTerms()
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def plans(starts_at, tz, booked_at=None, minutes=60):
    result = rules.session_reminder_plans(
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        booked_at=booked_at or starts_at - timedelta(days=30),
        patient_tz=tz,
        terms=TERMS,
    )
    return {p.kind: p for p in result}


class TestPlannedTimes:
    def test_every_kind_in_a_dst_change_week(self):
        # Clocks go forward in Berlin on Sunday 28 March 2027; the session is on Tuesday 30th.
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN, booked_at=datetime(2027, 3, 1, 12, 0, tzinfo=BERLIN))
        assert local(p["booking_confirmation"].planned, BERLIN) == "2027-03-01 12:00"
        assert local(p["nsaid_stop"].planned, BERLIN) == "2027-03-27 08:00"  # CET
        assert local(p["day_before"].planned, BERLIN) == "2027-03-29 09:00"  # CEST
        assert local(p["aftercare"].planned, BERLIN) == "2027-03-30 18:00"
        assert local(p["nsaid_end"].planned, BERLIN) == "2027-04-21 09:00"
        # The same wall-clock hour is a different UTC hour on either side of the change.
        assert p["nsaid_stop"].planned.astimezone(UTC).hour == 7  # 08:00 at UTC+1
        assert p["day_before"].planned.astimezone(UTC).hour == 7  # 09:00 at UTC+2
        assert p["aftercare"].planned.astimezone(UTC).hour == 16

    def test_a_reminder_on_the_dst_change_day_itself(self):
        start = datetime(2027, 3, 29, 10, 0, tzinfo=BERLIN)
        day_before = plans(start, BERLIN)["day_before"].planned
        assert local(day_before, BERLIN) == "2027-03-28 09:00"
        assert day_before.astimezone(UTC) == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)

    def test_autumn_change(self):
        # Clocks go back on Sunday 31 October 2027.
        start = datetime(2027, 11, 1, 10, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN)
        assert local(p["day_before"].planned, BERLIN) == "2027-10-31 09:00"
        assert p["day_before"].planned.astimezone(UTC).hour == 8  # 09:00 at UTC+1 again

    def test_a_patient_in_another_zone_reads_their_own_clock(self):
        # 10:00 in Berlin on 30 March is 04:00 the same day in New York (both on summer time).
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        p = plans(start, NEW_YORK)
        assert local(p["nsaid_stop"].planned, NEW_YORK) == "2027-03-27 08:00"
        assert local(p["day_before"].planned, NEW_YORK) == "2027-03-29 09:00"
        assert local(p["aftercare"].planned, NEW_YORK) == "2027-03-30 18:00"
        assert local(p["nsaid_end"].planned, NEW_YORK) == "2027-04-21 09:00"
        assert p["day_before"].planned.astimezone(UTC) == datetime(2027, 3, 29, 13, 0, tzinfo=UTC)

    def test_patient_day_differs_from_clinic_day(self):
        # 08:00 in Berlin on 30 March is still 29 March, 23:00, in Los Angeles.
        la = ZoneInfo("America/Los_Angeles")
        p = plans(datetime(2027, 3, 30, 8, 0, tzinfo=BERLIN), la)
        assert local(p["nsaid_stop"].planned, la) == "2027-03-26 08:00"
        assert local(p["day_before"].planned, la) == "2027-03-28 09:00"
        # Aftercare at 18:00 on their session day, 29 March, which is before the session
        # ends on their clock (00:00 on the 30th): it waits for the end.
        assert p["aftercare"].planned == datetime(2027, 3, 30, 9, 0, tzinfo=BERLIN)

    def test_aftercare_never_before_the_session_ends(self):
        start = datetime(2027, 3, 30, 17, 30, tzinfo=BERLIN)
        p = plans(start, BERLIN, minutes=90)
        assert local(p["aftercare"].planned, BERLIN) == "2027-03-30 19:00"

    def test_follow_up_and_next_session_reminders(self):
        follow_up = rules.follow_up_reminder_plan(date(2027, 6, 30), patient_tz=BERLIN, terms=TERMS)
        assert local(follow_up.planned, BERLIN) == "2027-06-28 09:00"
        assert local(follow_up.expires, BERLIN) == "2027-07-01 00:00"
        eligible = rules.next_session_reminder_plan(
            date(2027, 9, 30), patient_tz=BERLIN, terms=TERMS
        )
        assert local(eligible.planned, BERLIN) == "2027-09-30 10:00"

    def test_schedule_comes_from_the_protocol(self):
        terms = ProtocolTerms(
            reminders=rules.parse_reminder_schedule(
                {"day_before_at": "17:30", "follow_up_due_days_before": 5}
            )
        )
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        p = rules.session_reminder_plans(
            starts_at=start, ends_at=start, booked_at=start, patient_tz=BERLIN, terms=terms
        )
        assert (
            local(next(x for x in p if x.kind == "day_before").planned, BERLIN)
            == "2027-03-29 17:30"
        )
        fu = rules.follow_up_reminder_plan(date(2027, 6, 30), patient_tz=BERLIN, terms=terms)
        assert local(fu.planned, BERLIN) == "2027-06-25 09:00"

    @pytest.mark.parametrize(
        "raw",
        [[], {"day_before_at": "25:00"}, {"lunch_at": "12:00"}, {"follow_up_due_days_before": -1}],
    )
    def test_bad_schedules_are_refused(self, raw):
        with pytest.raises(ValueError):
            rules.parse_reminder_schedule(raw)


class TestQuietHours:
    @pytest.mark.parametrize(
        ("wall", "expected"),
        [
            ("2027-03-10 22:30", "2027-03-11 08:00"),  # evening: next morning
            ("2027-03-10 21:00", "2027-03-11 08:00"),  # the first quiet minute
            ("2027-03-10 20:59", "2027-03-10 20:59"),
            ("2027-03-10 03:00", "2027-03-10 08:00"),  # night: this morning
            ("2027-03-10 07:59", "2027-03-10 08:00"),
            ("2027-03-10 08:00", "2027-03-10 08:00"),
            ("2027-03-27 23:00", "2027-03-28 08:00"),  # across the spring DST change
        ],
    )
    def test_default_21_to_8(self, wall, expected):
        instant = datetime.strptime(wall, "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN)
        moved = rules.after_quiet_hours(instant, BERLIN, start=time(21), end=time(8))
        assert local(moved, BERLIN) == expected
        assert moved.tzinfo == UTC

    def test_quiet_hours_not_over_midnight(self):
        instant = datetime(2027, 3, 10, 1, 0, tzinfo=BERLIN)
        moved = rules.after_quiet_hours(instant, BERLIN, start=time(0), end=time(6))
        assert local(moved, BERLIN) == "2027-03-10 06:00"

    def test_equal_start_and_end_means_no_quiet_hours(self):
        instant = datetime(2027, 3, 10, 3, 0, tzinfo=BERLIN)
        assert rules.after_quiet_hours(instant, BERLIN, start=time(0), end=time(0)) == instant

    def test_quiet_hours_are_the_patients(self):
        # 23:00 in Berlin is 17:00 in New York: fine to send to the New Yorker.
        instant = datetime(2027, 3, 10, 23, 0, tzinfo=BERLIN)
        assert rules.after_quiet_hours(instant, NEW_YORK, start=time(21), end=time(8)) == instant


class TestPlacing:
    def place(self, plan, now, tz=BERLIN):
        return rules.place_reminder(
            planned=plan.planned, expires=plan.expires, now=now, tz=tz, terms=TERMS
        )

    def test_on_time(self):
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN)
        now = datetime(2027, 3, 1, 12, 0, tzinfo=BERLIN)
        assert self.place(p["day_before"], now) == p["day_before"].planned

    def test_late_booking_sends_what_still_matters_at_once(self):
        # Booked on Sunday 28 March, 15:00, for Tuesday 30 March: the NSAID pause began on
        # the 27th. The stop reminder goes at once; the day-before one on time.
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        now = datetime(2027, 3, 28, 15, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN, booked_at=now)
        assert self.place(p["nsaid_stop"], now) == now
        assert self.place(p["booking_confirmation"], now) == now
        assert local(self.place(p["day_before"], now), BERLIN) == "2027-03-29 09:00"

    def test_late_booking_in_the_evening_waits_for_the_morning(self):
        start = datetime(2027, 3, 30, 10, 0, tzinfo=BERLIN)
        now = datetime(2027, 3, 29, 22, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN, booked_at=now)
        assert local(self.place(p["booking_confirmation"], now), BERLIN) == "2027-03-30 08:00"
        assert local(self.place(p["nsaid_stop"], now), BERLIN) == "2027-03-30 08:00"
        # "Your session is tomorrow" would be wrong by the morning: not sent at all.
        assert self.place(p["day_before"], now) is None

    def test_nothing_once_the_moment_has_passed(self):
        start = datetime(2027, 3, 30, 7, 30, tzinfo=BERLIN)
        now = datetime(2027, 3, 29, 22, 0, tzinfo=BERLIN)
        p = plans(start, BERLIN, booked_at=now)
        # 08:00 would be after a 07:30 session: no confirmation or stop notice after the fact.
        assert self.place(p["booking_confirmation"], now) is None
        assert self.place(p["nsaid_stop"], now) is None
        assert self.place(p["aftercare"], now) is not None
