"""How dates and times read in messages and refusals: one place, so they all read alike."""

from datetime import date, datetime
from zoneinfo import ZoneInfo


def long_date(day: date) -> str:
    """Wednesday 10 March 2027"""
    return f"{day:%A} {day.day} {day:%B %Y}"


def place_name(tz: ZoneInfo) -> str:
    """Berlin for Europe/Berlin, New York for America/New_York: how people name a zone."""
    return str(tz.key).rsplit("/", 1)[-1].replace("_", " ")


def clinic_time(instant: datetime, clinic_tz: ZoneInfo, reader_tz: ZoneInfo) -> str:
    """16:00 Berlin time, and the reader's own time second where it differs:
    "16:00 Berlin time (10:00 your time in New York)". Patients travel to the clinic: its
    clock is the one that gets them there on time."""
    at_clinic = instant.astimezone(clinic_tz)
    text = f"{at_clinic:%H:%M} {place_name(clinic_tz)} time"
    at_home = instant.astimezone(reader_tz)
    if at_home.utcoffset() != at_clinic.utcoffset():
        day = "" if at_home.date() == at_clinic.date() else f"{at_home:%A} "
        text += f" ({day}{at_home:%H:%M} your time in {place_name(reader_tz)})"
    return text


def clinic_when(instant: datetime, clinic_tz: ZoneInfo, reader_tz: ZoneInfo) -> str:
    """Wednesday 10 March 2027 at 16:00 Berlin time (10:00 your time in New York)."""
    return f"{long_date(instant.astimezone(clinic_tz).date())} at " + clinic_time(
        instant, clinic_tz, reader_tz
    )
