"""What several staff pages need."""

from datetime import date, datetime

from django.utils import timezone

from treatments import rules, services


def now_and_today() -> tuple[datetime, date]:
    """Now, and today on the clinic's calendar (the day the staff pages start from)."""
    now = timezone.now()
    return now, rules.local_day(now, services.clinic_tz())
