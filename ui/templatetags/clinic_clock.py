"""Appointment times as people read them: on the clinic's clock, named, their own time second
("Wednesday 10 March 2027 at 16:00 Berlin time (10:00 your time in New York)")."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.conf import settings
from django.utils import timezone

from treatments.formatting import clinic_when as _clinic_when
from treatments.formatting import day_month as _day_month
from treatments.formatting import long_date as _long_date
from treatments.formatting import medium_date as _medium_date
from treatments.formatting import session_at as _session_at
from treatments.formatting import session_span as _session_span
from treatments.formatting import session_when as _session_when

register = template.Library()


@register.filter
def clinic_when(instant, reader_time_zone: str) -> str:
    """{{ session.starts_at|clinic_when:patient.time_zone }}"""
    if not instant:
        return ""
    return _clinic_when(
        instant, ZoneInfo(settings.CLINIC_TIME_ZONE), ZoneInfo(reader_time_zone or "UTC")
    )


@register.filter
def session_when(session, reader_time_zone: str = "") -> str:
    """{{ session|session_when:patient.time_zone }}: "Wednesday 10 March 2027 at 16:00
    Istanbul time (15:00 your time in Berlin)", on the session's site's clock (a booking
    request's too); {{ session|session_when }} for staff: the site's clock only."""
    if not session:
        return ""
    return _session_when(session, ZoneInfo(reader_time_zone) if reader_time_zone else None)


@register.filter
def session_span(session) -> str:
    """{{ session|session_span }}: "16:00–17:00 Istanbul time"."""
    return _session_span(session) if session else ""


@register.filter
def session_at(session) -> str:
    """{{ session|session_at }}: "Wed 10 Mar 2027, 16:00 Istanbul time"."""
    return _session_at(session) if session else ""


@register.filter
def at_site(instant, site) -> str:
    """{{ freed.starts_at|at_site:site }}: an instant on a site's clock, named ("Wednesday 10
    March 2027 at 00:30 Istanbul time"), for a page about one site (the waitlist)."""
    if not instant:
        return ""
    return _clinic_when(instant, site.tz, site.tz)


@register.filter
def at_clinic(instant) -> str:
    """{{ revision.recorded_at|at_clinic }}: for staff, who read the clinic's clock only
    ("Wednesday 10 March 2027 at 16:00 Berlin time")."""
    if not instant:
        return ""
    tz = ZoneInfo(settings.CLINIC_TIME_ZONE)
    return _clinic_when(instant, tz, tz)


@register.filter
def long_date(day) -> str:
    """{{ follow_up.due_date|long_date }}: "Wednesday 10 March 2027", in the page's language."""
    return _long_date(_local(day)) if day else ""


@register.filter
def day_month(day) -> str:
    """{{ window.first_day|day_month }}: "Wednesday 10 March", in the page's language."""
    return _day_month(_local(day)) if day else ""


@register.filter
def medium_date(day) -> str:
    """{{ consent.signed_at|medium_date }}: "10 March 2027", in the page's language."""
    return _medium_date(_local(day)) if day else ""


def _local(value):
    """An instant on the current time zone's calendar (the patient's, on their pages), as
    Django's date filter reads it; a date as it is."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value
