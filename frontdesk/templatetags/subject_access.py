"""How a value of a subject access report reads on its printable page."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django import template
from django.conf import settings
from django.utils.html import format_html, format_html_join

from treatments.formatting import clinic_when, long_date

register = template.Library()


@register.filter
def export_value(value):
    """Times on the clock they carry (a session's site's; else the clinic's), named; yes/no;
    nested rows as a list; None as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        tz = value.tzinfo if isinstance(value.tzinfo, ZoneInfo) else None
        tz = tz or ZoneInfo(settings.CLINIC_TIME_ZONE)
        return clinic_when(value, tz, tz)
    if isinstance(value, date):
        return long_date(value)
    if isinstance(value, dict):
        return format_html(
            "<ul class='list-unstyled mb-0'>{}</ul>",
            format_html_join(
                "", "<li>{}: {}</li>", ((k, export_value(v)) for k, v in value.items())
            ),
        )
    if isinstance(value, list):
        return format_html(
            "<ul class='mb-0 ps-3'>{}</ul>",
            format_html_join("", "<li>{}</li>", ((export_value(v),) for v in value)),
        )
    return str(value)
