"""What several staff pages need."""

from datetime import date, datetime

from django.utils import timezone

from accounts.prepared import PreparedGet
from sites.models import active_sites
from treatments import rules, services

# The active sites the booking page and the waitlist offer, read by a statement compiled
# once a process (`active_sites_read.all()`).
active_sites_read = PreparedGet(active_sites, key=None)


def now_and_today() -> tuple[datetime, date]:
    """Now, and today on the clinic's calendar (the day the staff pages start from)."""
    now = timezone.now()
    return now, rules.local_day(now, services.clinic_tz())
