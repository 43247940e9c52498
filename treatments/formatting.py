"""How dates and times read in messages and refusals: one place, so they all read alike.

Everything here is in the active language (django.utils.translation): a reminder worker
renders inside `translation.override(patient.language)`, a portal page inside the patient's
language, staff pages in English. Day and month names come from Django's catalogs; the
order of the parts is a translated format ("l j F Y" in English, "l, j. F Y" in German).

A session's times are on its site's clock (TreatmentSession.tz, the one home of a
session's zone), named by its city: `session_when`, `session_span`, `session_at` take the
session (or anything with `starts_at`, `ends_at` and `tz`, e.g. a booking request or a slot)."""

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils import dateformat
from django.utils.translation import get_language, gettext, pgettext


def formatted_day(day: date, fmt: str) -> str:
    """`day` in the translated format `fmt`, in the active language. Django's dateformat
    spends ~0.1 ms translating each name; a message names the same few days many times and
    a reminder worker names the same days for every patient of a session, so each (day,
    format, language) is formatted once per process."""
    return _day_in(day, fmt, get_language())


@lru_cache(maxsize=8192)
def _day_in(day: date, fmt: str, language: str | None) -> str:
    return dateformat.format(day, fmt)


def long_date(day: date) -> str:
    """Wednesday 10 March 2027 (Mittwoch, 10. März 2027; 10 Mart 2027 Çarşamba)"""
    # Translators: a date in Django's date format letters: l weekday, j day, F month, Y year.
    return formatted_day(day, pgettext("long date", "l j F Y"))


def medium_date(day: date) -> str:
    """10 March 2027 (10. März 2027; 10 Mart 2027)."""
    # Translators: a date without its weekday in Django's date format letters (j F Y).
    return formatted_day(day, pgettext("medium date", "j F Y"))


def day_month(day: date) -> str:
    """Wednesday 10 March (Mittwoch, 10. März; 10 Mart Çarşamba): a day close at hand."""
    # Translators: a day without its year in Django's date format letters (l j F).
    return formatted_day(day, pgettext("day and month", "l j F"))


def short_date(day: date) -> str:
    """Wed 10 Mar (Mi 10. Mär; 10 Mar Çar): a day in an SMS."""
    return formatted_day(day, pgettext("short date", "D j M"))


def short_when(instant: datetime, clinic_tz: ZoneInfo, reader_tz: ZoneInfo) -> str:
    """Wed 10 Mar, 16:00 Berlin (10:00 in New York): an appointment in an SMS, where every
    character counts; the clinic's clock first, the reader's own second where it differs."""
    at_clinic = instant.astimezone(clinic_tz)
    # Translators: a short day (Django's date letters D j M) and a time, for SMS.
    text = gettext("%(day)s, %(time)s %(place)s") % {
        "day": short_date(at_clinic.date()),
        "time": f"{at_clinic:%H:%M}",
        "place": place_name(clinic_tz),
    }
    at_home = instant.astimezone(reader_tz)
    if at_home.utcoffset() != at_clinic.utcoffset():
        own = f"{at_home:%H:%M}"
        if at_home.date() != at_clinic.date():
            own = dateformat.format(at_home, "D") + " " + own
        # Translators: the reader's own time in an SMS: "(10:00 in New York)".
        text += " " + gettext("(%(time)s in %(place)s)") % {
            "time": own,
            "place": place_name(reader_tz),
        }
    return text


def _weekday(instant: datetime) -> str:
    return dateformat.format(instant, "l")


def place_name(tz: ZoneInfo) -> str:
    """Berlin for Europe/Berlin, New York for America/New_York: how people name a zone."""
    return str(tz.key).rsplit("/", 1)[-1].replace("_", " ")


def named_time(time_text: str, tz: ZoneInfo) -> str:
    """ "16:00 Berlin time" (or "09:00, 09:15 Berlin time"): times on the clock of `tz`."""
    # Translators: a time on the clinic's clock, named by its city: "16:00 Berlin time".
    return gettext("%(time)s %(place)s time") % {"time": time_text, "place": place_name(tz)}


def clinic_time(instant: datetime, clinic_tz: ZoneInfo, reader_tz: ZoneInfo) -> str:
    """16:00 Berlin time, and the reader's own time second where it differs:
    "16:00 Berlin time (10:00 your time in New York)". Patients travel to the clinic: its
    clock is the one that gets them there on time."""
    at_clinic = instant.astimezone(clinic_tz)
    text = named_time(f"{at_clinic:%H:%M}", clinic_tz)
    at_home = instant.astimezone(reader_tz)
    if at_home.utcoffset() != at_clinic.utcoffset():
        values = {"time": f"{at_home:%H:%M}", "place": place_name(reader_tz)}
        if at_home.date() == at_clinic.date():
            text += " " + gettext("(%(time)s your time in %(place)s)") % values
        else:
            values["day"] = _weekday(at_home)
            text += " " + gettext("(%(day)s %(time)s your time in %(place)s)") % values
    return text


def clinic_when(instant: datetime, clinic_tz: ZoneInfo, reader_tz: ZoneInfo) -> str:
    """Wednesday 10 March 2027 at 16:00 Berlin time (10:00 your time in New York)."""
    # Translators: a day and a time: "Wednesday 10 March 2027 at 16:00 Berlin time".
    return gettext("%(day)s at %(time)s") % {
        "day": long_date(instant.astimezone(clinic_tz).date()),
        "time": clinic_time(instant, clinic_tz, reader_tz),
    }


def session_when(session, reader_tz: ZoneInfo | None = None) -> str:
    """Wednesday 10 March 2027 at 16:00 Istanbul time: a session's start on its site's
    clock, its day the site's day; the reader's own time second where it differs (a
    patient's; staff read the site's clock only)."""
    return clinic_when(session.starts_at, session.tz, reader_tz or session.tz)


def session_span(session) -> str:
    """16:00–17:00 Istanbul time: a session's hours on its site's clock (the schedule)."""
    tz = session.tz
    start, end = session.starts_at.astimezone(tz), session.ends_at.astimezone(tz)
    return named_time(f"{start:%H:%M}–{end:%H:%M}", tz)


_SLOT = "\x00"  # where the time goes in a named_time text (no translation contains it)


def span_maker() -> Callable[[datetime, datetime, ZoneInfo], str]:
    """session_span from plain values (a session's start, end and site's zone) for the many
    rows of one page, its text the same: the translated "%(time)s %(place)s time" looked up
    once a zone (in the active language), not once a row."""
    around: dict[ZoneInfo, tuple[str, str]] = {}

    def span(starts_at: datetime, ends_at: datetime, tz: ZoneInfo) -> str:
        parts = around.get(tz)
        if parts is None:
            before, after = named_time(_SLOT, tz).split(_SLOT)
            parts = around[tz] = (before, after)
        start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
        return f"{parts[0]}{start:%H:%M}–{end:%H:%M}{parts[1]}"

    return span


def when_maker(tz: ZoneInfo) -> Callable[[datetime], str]:
    """clinic_when(instant, tz, tz) (a staff reader, who reads the clinic's clock only) for
    the many rows of one page, its text the same: "%(day)s at %(time)s", the long date's
    format and "%(time)s %(place)s time" looked up once a zone and language, not three
    gettext lookups a row."""
    language = get_language()
    at, day_format, before, after = _when_parts(tz, language)

    def when(instant: datetime) -> str:
        local = instant.astimezone(tz)
        return at % {
            "day": _day_in(local.date(), day_format, language),
            "time": f"{before}{local:%H:%M}{after}",
        }

    return when


@lru_cache(maxsize=64)
def _when_parts(tz: ZoneInfo, language: str | None) -> tuple[str, str, str, str]:
    before, after = named_time(_SLOT, tz).split(_SLOT)
    return gettext("%(day)s at %(time)s"), pgettext("long date", "l j F Y"), before, after


def session_time(instant: datetime, session) -> str:
    """09:42 Istanbul time: a moment of a session's day (e.g. its check-in) on its clock."""
    return named_time(f"{instant.astimezone(session.tz):%H:%M}", session.tz)


def session_at(session) -> str:
    """Wed 10 Mar 2027, 16:00 Istanbul time: a session in a staff list, its day the
    site's day."""
    start = session.starts_at.astimezone(session.tz)
    # Its day formatted once a process (formatted_day): 'D j M Y' reads only the date.
    day = formatted_day(start.date(), "D j M Y")
    return f"{day}, {named_time(f'{start:%H:%M}', session.tz)}"
