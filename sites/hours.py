"""Opening and working hours as instants: pure, given the site's zone (no queries)."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


def wall_interval(day: date, opens: time, closes: time, tz: ZoneInfo) -> Interval:
    """[opens, closes) on `day` on the clock of `tz`, in UTC: 09:00 is 09:00 local on both
    sides of a DST change (a wall time skipped by the change reads as just after it)."""
    return (
        datetime.combine(day, opens, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, closes, tzinfo=tz).astimezone(UTC),
    )


def day_intervals(
    day: date, weekly: Iterable[tuple[int, time, time]], tz: ZoneInfo
) -> list[Interval]:
    """The intervals of `day` from weekly (weekday, opens, closes) rows."""
    return sorted(
        wall_interval(day, opens, closes, tz)
        for weekday, opens, closes in weekly
        if weekday == day.weekday()
    )


def covered(start: datetime, end: datetime, intervals: Iterable[Interval]) -> bool:
    """Whether one interval holds all of [start, end)."""
    return any(i_start <= start and end <= i_end for i_start, i_end in intervals)


def overlaps(start: datetime, end: datetime, intervals: Iterable[Interval]) -> bool:
    return any(i_start < end and start < i_end for i_start, i_end in intervals)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
