"""Celery tasks of the treatments domain: thin wrappers; the work is in treatments.selectors."""

from celery import shared_task
from django.utils import timezone

from . import rules, selectors
from .services import clinic_tz


@shared_task(ignore_result=True)
def recount_follow_up_adherence() -> None:
    """Run by beat every settings.FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS: the follow-up review's
    90-day adherence, counted for today on the clinic's calendar and kept in the cache, so no
    admin's page waits for the count."""
    now = timezone.now()
    selectors.recount_follow_up_adherence(today=rules.local_day(now, clinic_tz()), now=now)
