"""treatments.rules: the protocol arithmetic, pure (no database)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from treatments import rules
from treatments.rules import BookedDay, ProtocolTerms

TERMS = ProtocolTerms()


class TestAddMonths:
    @pytest.mark.parametrize(
        ("day", "months", "expected"),
        [
            (date(2027, 3, 10), 6, date(2027, 9, 10)),
            (date(2026, 8, 31), 6, date(2027, 2, 28)),  # month end, ordinary year
            (date(2027, 8, 31), 6, date(2028, 2, 29)),  # month end, leap year
            (date(2026, 6, 30), 6, date(2026, 12, 30)),
            (date(2026, 12, 31), 6, date(2027, 6, 30)),
            (date(2028, 2, 29), 12, date(2029, 2, 28)),
            (date(2027, 9, 10), -6, date(2027, 3, 10)),
            (date(2027, 3, 31), -1, date(2027, 2, 28)),
            (date(2027, 1, 15), 0, date(2027, 1, 15)),
        ],
    )
    def test_same_day_or_clamped_to_month_end(self, day, months, expected):
        assert rules.add_months(day, months) == expected


class TestGapRule:
    def test_exact_day_six_months_on_is_allowed_and_the_day_before_is_not(self):
        first = BookedDay(date(2027, 3, 10), 6)
        assert rules.gap_conflicts(date(2027, 9, 10), gap_months=6, others=[first]) == []
        assert rules.gap_conflicts(date(2027, 9, 9), gap_months=6, others=[first]) == [first]

    def test_31_august_allows_28_february(self):
        first = BookedDay(date(2026, 8, 31), 6)
        assert rules.earliest_next_session(first.day, gap_months=6) == date(2027, 2, 28)
        assert not rules.gap_conflicts(date(2027, 2, 28), gap_months=6, others=[first])
        assert rules.gap_conflicts(date(2027, 2, 27), gap_months=6, others=[first])

    def test_31_august_allows_29_february_in_a_leap_year(self):
        first = BookedDay(date(2027, 8, 31), 6)
        assert rules.earliest_next_session(first.day, gap_months=6) == date(2028, 2, 29)
        assert not rules.gap_conflicts(date(2028, 2, 29), gap_months=6, others=[first])
        assert rules.gap_conflicts(date(2028, 2, 28), gap_months=6, others=[first])

    def test_inserting_a_session_before_a_later_one(self):
        later = BookedDay(date(2027, 9, 10), 6)
        assert rules.latest_previous_session(later.day, gap_months=6) == date(2027, 3, 10)
        assert not rules.gap_conflicts(date(2027, 3, 10), gap_months=6, others=[later])
        assert rules.gap_conflicts(date(2027, 3, 11), gap_months=6, others=[later])

    def test_inserting_before_a_month_end_session(self):
        # Every day of late August reaches 28 Feb 2027 six months on, so all are allowed.
        later = BookedDay(date(2027, 2, 28), 6)
        assert rules.latest_previous_session(later.day, gap_months=6) == date(2026, 8, 31)
        assert not rules.gap_conflicts(date(2026, 8, 31), gap_months=6, others=[later])
        assert rules.gap_conflicts(date(2026, 9, 1), gap_months=6, others=[later])

    def test_latest_previous_session_is_the_inverse_of_earliest_next_session(self):
        # Brute force over three years, leap year included.
        days = [date(2026, 1, 1) + timedelta(days=n) for n in range(3 * 366)]
        for later in days[400:]:
            allowed = [d for d in days if rules.earliest_next_session(d, gap_months=6) <= later]
            assert rules.latest_previous_session(later, gap_months=6) == max(allowed), later

    def test_the_earlier_sessions_gap_decides(self):
        # Booked under a 7-month protocol: blocks 7 months even for a 6-month newcomer.
        first = BookedDay(date(2027, 1, 15), 7)
        assert rules.gap_conflicts(date(2027, 7, 15), gap_months=6, others=[first])
        assert not rules.gap_conflicts(date(2027, 8, 15), gap_months=6, others=[first])

    def test_earliest_allowed_day_skips_past_every_conflict(self):
        others = [BookedDay(date(2027, 1, 10), 6), BookedDay(date(2027, 7, 10), 6)]
        assert rules.earliest_allowed_day(date(2027, 3, 1), gap_months=6, others=others) == date(
            2028, 1, 10
        )
        # A free day stays as it is.
        assert rules.earliest_allowed_day(date(2028, 2, 1), gap_months=6, others=others) == date(
            2028, 2, 1
        )

    def test_earliest_allowed_day_finds_room_between_two_sessions(self):
        others = [BookedDay(date(2026, 1, 10), 6), BookedDay(date(2027, 1, 10), 6)]
        assert rules.earliest_allowed_day(date(2026, 5, 1), gap_months=6, others=others) == date(
            2026, 7, 10
        )


class TestNsaidWindow:
    def test_session_on_10_march(self):
        window = rules.nsaid_window(date(2027, 3, 10), terms=TERMS)
        assert window.first_day == date(2027, 3, 7)
        assert window.last_day == date(2027, 3, 31)
        assert window.resume_day == date(2027, 4, 1)
        assert window.length_days == 25

    def test_leap_february(self):
        window = rules.nsaid_window(date(2028, 2, 10), terms=TERMS)
        assert window.last_day == date(2028, 3, 2)  # 29 Feb counts

    def test_both_ends_inclusive(self):
        window = rules.nsaid_window(date(2027, 3, 10), terms=TERMS)
        assert not window.contains(date(2027, 3, 6))
        assert window.contains(date(2027, 3, 7))
        assert window.day_number(date(2027, 3, 7)) == 1
        assert window.contains(date(2027, 3, 31))
        assert window.day_number(date(2027, 3, 31)) == 25
        assert not window.contains(date(2027, 4, 1))
        with pytest.raises(ValueError):
            window.day_number(date(2027, 4, 1))

    def test_has_started_from_the_first_day(self):
        window = rules.nsaid_window(date(2027, 3, 10), terms=TERMS)
        assert not window.has_started(date(2027, 3, 6))
        assert window.has_started(date(2027, 3, 7))
        assert rules.earliest_day_without_short_notice(date(2027, 3, 7), terms=TERMS) == date(
            2027, 3, 11
        )

    def test_protocol_terms_change_the_window(self):
        window = rules.nsaid_window(
            date(2027, 3, 10), terms=ProtocolTerms(nsaid_days_before=7, nsaid_days_after=7)
        )
        assert (window.first_day, window.last_day) == (date(2027, 3, 3), date(2027, 3, 17))

    def test_session_on_the_dst_change_day(self):
        # EU clocks go forward on Sunday 28 March 2027 at 02:00.
        berlin = ZoneInfo("Europe/Berlin")
        start = datetime(2027, 3, 28, 10, 0, tzinfo=berlin)
        assert start.utcoffset() == timedelta(hours=2)
        window = rules.nsaid_window(rules.local_day(start, berlin), terms=TERMS)
        assert (window.first_day, window.last_day) == (date(2027, 3, 25), date(2027, 4, 18))

    def test_patient_in_another_time_zone_counts_from_their_own_day(self):
        # 08:00 in Berlin on 28 March 2027 is still 27 March, 23:00, in Los Angeles.
        start = datetime(2027, 3, 28, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        la_day = rules.local_day(start, ZoneInfo("America/Los_Angeles"))
        assert la_day == date(2027, 3, 27)
        window = rules.nsaid_window(la_day, terms=TERMS)
        assert (window.first_day, window.last_day) == (date(2027, 3, 24), date(2027, 4, 17))
        # And in Auckland it is already the evening of the 28th.
        assert rules.local_day(start, ZoneInfo("Pacific/Auckland")) == date(2027, 3, 28)

    def test_local_day_refuses_naive_times(self):
        with pytest.raises(ValueError):
            rules.local_day(datetime(2027, 3, 10, 10, 0), ZoneInfo("UTC"))


class TestFollowUps:
    def test_default_plan(self):
        assert rules.follow_up_due_dates(date(2027, 3, 10), terms=TERMS) == {
            "aftercare_check": date(2027, 3, 17),
            "early_result": date(2027, 6, 10),
            "assessment": date(2027, 9, 10),
            "long_term": date(2028, 3, 10),
        }

    def test_month_end_session(self):
        due = rules.follow_up_due_dates(date(2027, 8, 31), terms=TERMS)
        assert due["aftercare_check"] == date(2027, 9, 7)
        assert due["early_result"] == date(2027, 11, 30)
        assert due["assessment"] == date(2028, 2, 29)
        assert due["long_term"] == date(2028, 8, 31)

    def test_plan_round_trips_through_json(self):
        raw = rules.follow_up_plan_as_json(rules.DEFAULT_FOLLOW_UP_PLAN)
        assert rules.parse_follow_up_plan(raw) == rules.DEFAULT_FOLLOW_UP_PLAN

    @pytest.mark.parametrize(
        "raw",
        [
            [],
            "7 days",
            [{"kind": "lunch", "days": 7}],
            [{"kind": "assessment", "months": -6}],
            [{"kind": "assessment", "months": "6"}],
            [{"kind": "assessment"}],
            [{"kind": "assessment", "months": 6}, {"kind": "assessment", "months": 7}],
            [{"kind": "assessment", "weeks": 2}],
        ],
    )
    def test_bad_plans_are_refused(self, raw):
        with pytest.raises(ValueError):
            rules.parse_follow_up_plan(raw)
