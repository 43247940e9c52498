"""
The protocol arithmetic, in one place.

Everything that decides a date of the protocol lives here: the earliest next session (the
six-month rule, in both directions), the NSAID avoidance window and the follow-up due dates.
Forms, services, reminders, the portal and the admin all ask this module; none of them does
the arithmetic itself.

This module is pure: dates and protocol terms in, dates out. It never reads the clock, the
database or settings; "today" and time zones are passed in by the caller.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

# --- Protocol terms -----------------------------------------------------------------------

FOLLOW_UP_KINDS = ("aftercare_check", "early_result", "assessment", "long_term")


@dataclass(frozen=True)
class FollowUpStep:
    """One planned follow-up: its kind and how long after the session day it is due."""

    kind: str
    months: int = 0
    days: int = 0


DEFAULT_FOLLOW_UP_PLAN = (
    FollowUpStep("aftercare_check", days=7),
    FollowUpStep("early_result", months=3),
    FollowUpStep("assessment", months=6),
    FollowUpStep("long_term", months=12),
)

# Days before and after its due date a follow-up counts as "due now" (and may be recorded
# from), unless the protocol version sets another number.
DEFAULT_FOLLOW_UP_WINDOW_DAYS = 14
# The widest window a protocol may set (its CHECK constraint): a follow-up's window is then
# at most twice this long, which bounds the review's "due now" to an index range.
MAX_FOLLOW_UP_WINDOW_DAYS = 90


@dataclass(frozen=True)
class ReminderSchedule:
    """The patient-local wall-clock times of the scheduled reminders."""

    nsaid_stop_at: time = time(8, 0)  # morning of the window's first day
    day_before_at: time = time(9, 0)  # morning of the day before
    aftercare_at: time = time(18, 0)  # evening of the session day
    nsaid_end_at: time = time(9, 0)  # morning after the window's last day
    follow_up_due_days_before: int = 2
    follow_up_due_at: time = time(9, 0)
    next_session_eligible_at: time = time(10, 0)  # at the six-month mark


REMINDER_SCHEDULE_FIELDS = {
    "nsaid_stop_at": time,
    "day_before_at": time,
    "aftercare_at": time,
    "nsaid_end_at": time,
    "follow_up_due_days_before": int,
    "follow_up_due_at": time,
    "next_session_eligible_at": time,
}


def parse_reminder_schedule(raw: object) -> ReminderSchedule:
    """The stored JSON schedule ({"day_before_at": "09:00", ...}); missing keys keep defaults."""
    if not isinstance(raw, dict):
        raise ValueError("The reminder schedule must be an object of times.")
    values: dict[str, time | int] = {}
    for key, value in raw.items():
        kind = REMINDER_SCHEDULE_FIELDS.get(key)
        if kind is None:
            raise ValueError(f"Unknown reminder setting {key!r}.")
        if kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 30:
                raise ValueError(f"{key} must be a whole number of days from 0 to 30.")
            values[key] = value
        else:
            try:
                values[key] = time.fromisoformat(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key} must be a time like 09:00, not {value!r}.") from exc
    return ReminderSchedule(**values)  # type: ignore[arg-type]  # each checked against its kind


def reminder_schedule_as_json(schedule: ReminderSchedule) -> dict[str, int | str]:
    return {
        key: getattr(schedule, key) if kind is int else getattr(schedule, key).strftime("%H:%M")
        for key, kind in REMINDER_SCHEDULE_FIELDS.items()
    }


@dataclass(frozen=True)
class ProtocolTerms:
    """The numbers of one protocol version. Defaults are the stricter reading of the sources."""

    gap_months: int = 6
    nsaid_days_before: int = 3
    nsaid_days_after: int = 21
    follow_up_window_days: int = DEFAULT_FOLLOW_UP_WINDOW_DAYS
    follow_up_plan: tuple[FollowUpStep, ...] = field(default=DEFAULT_FOLLOW_UP_PLAN)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    reminders: ReminderSchedule = field(default_factory=ReminderSchedule)


def parse_follow_up_plan(raw: object) -> tuple[FollowUpStep, ...]:
    """Turn the stored JSON plan into steps; raise ValueError with a readable reason."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("The follow-up plan must be a non-empty list.")
    steps = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"kind", "months", "days"}:
            raise ValueError(f"Each follow-up needs a kind and months and/or days, not {item!r}.")
        kind = item.get("kind")
        if kind not in FOLLOW_UP_KINDS:
            raise ValueError(f"Unknown follow-up kind {kind!r}; use one of {FOLLOW_UP_KINDS}.")
        months, days = item.get("months", 0), item.get("days", 0)
        if not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (months, days)
        ):
            raise ValueError(f"Months and days of {kind!r} must be whole numbers, 0 or more.")
        if months == 0 and days == 0:
            raise ValueError(f"The {kind!r} follow-up cannot be due on the session day itself.")
        steps.append(FollowUpStep(kind, months=months, days=days))
    kinds = [s.kind for s in steps]
    if len(set(kinds)) != len(kinds):
        raise ValueError("Each follow-up kind may appear only once in the plan.")
    return tuple(steps)


def follow_up_plan_as_json(plan: Iterable[FollowUpStep]) -> list[dict[str, str | int]]:
    return [
        {
            "kind": s.kind,
            **({"months": s.months} if s.months else {}),
            **({"days": s.days} if s.days else {}),
        }
        for s in plan
    ]


# --- Calendar helpers ---------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (or earlier), clamped to that month's end.

    31 Aug + 6 → 28 Feb (29 Feb in a leap year); 30 Jun + 6 → 30 Dec. PostgreSQL's
    `date + interval 'n months'` clamps the same way, which the database constraint relies on.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day an aware instant falls on in the zone `tz`."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("local_day() needs an aware datetime; naive times are ambiguous.")
    return instant.astimezone(tz).date()


# --- Rule 1: at least `gap_months` calendar months between two sessions ---------------------


def earliest_next_session(session_day: date, *, gap_months: int) -> date:
    """The first day a later session may take place after a session on `session_day`."""
    return add_months(session_day, gap_months)


def latest_previous_session(session_day: date, *, gap_months: int) -> date:
    """The last day an earlier session may take place before a session on `session_day`.

    The inverse of earliest_next_session: the largest d with
    earliest_next_session(d) <= session_day. Where `session_day` is a month's last day, every
    day of the month `gap_months` before clamps onto it, so that month's last day is allowed.
    """
    candidate = add_months(session_day, -gap_months)
    if is_month_end(session_day):
        candidate = candidate.replace(day=calendar.monthrange(candidate.year, candidate.month)[1])
    return candidate


@dataclass(frozen=True)
class BookedDay:
    """A live session of the patient as the gap rule sees it: its day and its own gap."""

    day: date
    gap_months: int

    @cached_property  # asked for each day a slot search looks at
    def blocks_until(self) -> date:
        """The session blocks [day, blocks_until): no other session may start in it."""
        return earliest_next_session(self.day, gap_months=self.gap_months)


def gap_conflicts(day: date, *, gap_months: int, others: Iterable[BookedDay]) -> list[BookedDay]:
    """The live sessions a session on `day` would be too close to, in either direction.

    A session is too close when the earlier of the two blocks the later one's day: the gap of
    the earlier session (the protocol version it was booked under) decides.
    """
    mine = BookedDay(day, gap_months)
    return [o for o in others if o.day < mine.blocks_until and mine.day < o.blocks_until]


def earliest_allowed_day(requested: date, *, gap_months: int, others: Sequence[BookedDay]) -> date:
    """The first day on or after `requested` on which a session breaks no gap.

    Every day before the largest `blocks_until` among the conflicts still conflicts with that
    session (months only add forward), so jumping there skips no allowed day.
    """
    candidate = requested
    while conflicts := gap_conflicts(candidate, gap_months=gap_months, others=others):
        candidate = max(c.blocks_until for c in conflicts)
    return candidate


# --- Rule 2: the NSAID avoidance window ------------------------------------------------------


@dataclass(frozen=True)
class NsaidWindow:
    """No NSAIDs from first_day through last_day, both inclusive, by the patient's calendar."""

    first_day: date
    last_day: date

    @property
    def resume_day(self) -> date:
        """The first day NSAIDs may be taken again."""
        return self.last_day + timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def has_started(self, today: date) -> bool:
        """True from the window's first day on: a booking made then is at short notice."""
        return today >= self.first_day

    def day_number(self, day: date) -> int:
        """Which day of the window `day` is, counting the first day as 1."""
        if not self.contains(day):
            raise ValueError(f"{day} is outside the NSAID window.")
        return (day - self.first_day).days + 1

    @property
    def length_days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def nsaid_window(session_day: date, *, terms: ProtocolTerms) -> NsaidWindow:
    """The window for a session on `session_day` (the patient's local date of the session)."""
    return nsaid_window_of(session_day, terms.nsaid_days_before, terms.nsaid_days_after)


def nsaid_window_of(session_day: date, days_before: int, days_after: int) -> NsaidWindow:
    """nsaid_window from the protocol's two numbers alone (a list reads only those)."""
    return NsaidWindow(
        first_day=session_day - timedelta(days=days_before),
        last_day=session_day + timedelta(days=days_after),
    )


def earliest_day_without_short_notice(today: date, *, terms: ProtocolTerms) -> date:
    """The first session day whose NSAID window has not started yet on `today`."""
    return today + timedelta(days=terms.nsaid_days_before + 1)


# --- Follow-ups -------------------------------------------------------------------------------


def follow_up_window(due: date, *, session_day: date, window_days: int) -> tuple[date, date]:
    """(first, last) day a follow-up due on `due` counts as due: `window_days` either side,
    never before the session day (a 7-day aftercare check opens on the session day)."""
    return max(session_day, due - timedelta(days=window_days)), due + timedelta(days=window_days)


def follow_up_due_dates(session_day: date, *, terms: ProtocolTerms) -> dict[str, date]:
    """Due date of each planned follow-up, counted from the clinic's local session day."""
    return {
        step.kind: add_months(session_day, step.months) + timedelta(days=step.days)
        for step in terms.follow_up_plan
    }


# --- Reminders ----------------------------------------------------------------------------
#
# A reminder has a planned instant (a wall-clock time on a day of the patient's calendar) and
# an expiry: the instant after which sending it would be nonsense ("your session is
# tomorrow" after the session). place_reminder() turns the two into the instant to send at,
# or None: a late booking sends what still matters at once; nothing goes out in the
# patient's quiet hours; nothing goes out once expired.


def at_local(day: date, wall_time: time, tz: ZoneInfo) -> datetime:
    """The instant `wall_time` on `day` in zone `tz`, in UTC.

    A wall time that does not exist (skipped by a DST change) is read with the offset before
    the change, which lands just after the gap.
    """
    return datetime.combine(day, wall_time, tzinfo=tz).astimezone(UTC)


def in_quiet_hours(local: time, *, start: time, end: time) -> bool:
    if start == end:
        return False
    if start > end:  # over midnight, e.g. 21:00–08:00
        return local >= start or local < end
    return start <= local < end


def after_quiet_hours(instant: datetime, tz: ZoneInfo, *, start: time, end: time) -> datetime:
    """`instant`, or the end of the patient's quiet hours if it falls within them (UTC)."""
    local = instant.astimezone(tz)
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), start=start, end=end):
        return instant.astimezone(UTC)
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)  # evening: wait for tomorrow morning
    return at_local(day, end, tz)


def place_reminder(
    *,
    planned: datetime,
    expires: datetime,
    now: datetime,
    tz: ZoneInfo,
    terms: ProtocolTerms,
) -> datetime | None:
    """When to send a reminder planned for `planned` that must not go out at or after
    `expires`, seen at `now`; None where it can no longer be sent sensibly."""
    send = max(planned, now)
    send = after_quiet_hours(send, tz, start=terms.quiet_hours_start, end=terms.quiet_hours_end)
    return send if send < expires else None


@dataclass(frozen=True)
class ReminderPlan:
    """A scheduled reminder: when it is planned and when it stops making sense (UTC)."""

    kind: str
    planned: datetime
    expires: datetime


def session_reminder_plans(
    *,
    starts_at: datetime,
    ends_at: datetime,
    booked_at: datetime,
    patient_tz: ZoneInfo,
    terms: ProtocolTerms,
) -> list[ReminderPlan]:
    """The reminders of a booked session, by the patient's calendar and clock."""
    schedule = terms.reminders
    day = local_day(starts_at, patient_tz)
    window = nsaid_window(day, terms=terms)
    resume_start = at_local(window.resume_day, time(0, 0), patient_tz)
    aftercare = max(at_local(day, schedule.aftercare_at, patient_tz), ends_at)
    return [
        ReminderPlan("booking_confirmation", booked_at, starts_at),
        ReminderPlan(
            "nsaid_stop", at_local(window.first_day, schedule.nsaid_stop_at, patient_tz), starts_at
        ),
        ReminderPlan(
            "day_before",
            at_local(day - timedelta(days=1), schedule.day_before_at, patient_tz),
            # It says "tomorrow": never on the session day itself.
            min(at_local(day, time(0, 0), patient_tz), starts_at),
        ),
        ReminderPlan("aftercare", aftercare, resume_start),
        ReminderPlan(
            "nsaid_end",
            at_local(window.resume_day, schedule.nsaid_end_at, patient_tz),
            resume_start + timedelta(days=3),
        ),
    ]


def follow_up_reminder_plan(
    due_date: date, *, patient_tz: ZoneInfo, terms: ProtocolTerms
) -> ReminderPlan:
    """The "follow-up due" reminder: some days before the follow-up, in the morning."""
    schedule = terms.reminders
    return ReminderPlan(
        "follow_up_due",
        at_local(
            due_date - timedelta(days=schedule.follow_up_due_days_before),
            schedule.follow_up_due_at,
            patient_tz,
        ),
        at_local(due_date + timedelta(days=1), time(0, 0), patient_tz),
    )


def next_session_reminder_plan(
    gap_until: date, *, patient_tz: ZoneInfo, terms: ProtocolTerms
) -> ReminderPlan:
    """The "next session eligible" reminder, at the six-month mark."""
    return ReminderPlan(
        "next_session_eligible",
        at_local(gap_until, terms.reminders.next_session_eligible_at, patient_tz),
        at_local(gap_until + timedelta(days=30), time(0, 0), patient_tz),
    )
