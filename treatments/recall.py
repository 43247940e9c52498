"""The recall list: patients whose next session the gap allows now or within a few weeks,
and who have nothing booked. One query for the page of patients (plus the paginator's
count), whatever its length."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery

from patients.models import Patient

from .models import LIVE_STATUSES, OPEN_STATUSES, FollowUp, FollowUpStatus, TreatmentSession

DEFAULT_WEEKS = 4
MAX_WEEKS = 52


def due_patients(*, today: date, within_weeks: int = DEFAULT_WEEKS) -> QuerySet[Patient]:
    """Patients with a live session, none open from `today` on, whose gap ends (the latest
    `gap_until` of their live sessions, on the sessions' sites' calendars) by `today` +
    `within_weeks` weeks; the soonest due first. Annotated: `last_day` (their latest live
    session's day), `due_day`, and their latest recorded follow-up's `rating`, `density`
    and `seen_on` (None if none yet)."""
    live = Q(sessions__status__in=LIVE_STATUSES)
    latest_done = FollowUp.objects.filter(
        session__patient=OuterRef("pk"), status=FollowUpStatus.DONE
    ).order_by("-seen_on", "-pk")
    booked = TreatmentSession.objects.filter(
        patient=OuterRef("pk"), status__in=OPEN_STATUSES, local_date__gte=today
    )
    return (
        Patient.objects.filter(merged_into__isnull=True)
        .annotate(
            last_day=Max("sessions__local_date", filter=live),
            due_day=Max("sessions__gap_until", filter=live),
        )
        .filter(due_day__lte=today + timedelta(weeks=within_weeks))
        .exclude(Exists(booked))
        .annotate(
            rating=Subquery(latest_done.values("patient_rating")[:1]),
            density=Subquery(latest_done.values("hair_density_per_cm2")[:1]),
            seen_on=Subquery(latest_done.values("seen_on")[:1]),
        )
        .order_by("due_day", "last_name", "first_name", "pk")
    )
