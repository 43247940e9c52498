"""Appointment times as people read them: on the clinic's clock, named, their own time second
("Wednesday 10 March 2027 at 16:00 Berlin time (10:00 your time in New York)")."""

from zoneinfo import ZoneInfo

from django import template
from django.conf import settings

from treatments.formatting import clinic_when as _clinic_when

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
def at_clinic(instant) -> str:
    """{{ revision.recorded_at|at_clinic }}: for staff, who read the clinic's clock only
    ("Wednesday 10 March 2027 at 16:00 Berlin time")."""
    if not instant:
        return ""
    tz = ZoneInfo(settings.CLINIC_TIME_ZONE)
    return _clinic_when(instant, tz, tz)
