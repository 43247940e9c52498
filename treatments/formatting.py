"""How dates and times read in messages and refusals: one place, so they all read alike."""

from datetime import date, datetime
from zoneinfo import ZoneInfo


def long_date(day: date) -> str:
    """Wednesday 10 March 2027"""
    return f"{day:%A} {day.day} {day:%B %Y}"


def local_when(instant: datetime, tz: ZoneInfo) -> str:
    """Wednesday 10 March 2027 at 10:00, on the reader's own clock."""
    local = instant.astimezone(tz)
    return f"{long_date(local.date())} at {local:%H:%M}"
