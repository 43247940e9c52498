"""The recall list: patients whose next session the gap allows now or within a few weeks,
and who have nothing booked. One query for the page of patients (plus the paginator's
count), whatever its length."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Concat

from accounts.prepared import PreparedValues, sliced
from patients.models import Patient

from .models import LIVE_STATUSES, OPEN_STATUSES, FollowUp, FollowUpStatus, TreatmentSession

DEFAULT_WEEKS = 4
MAX_WEEKS = 52
# What the recall list shows of a patient (a row of `due_rows`): their fields, then
# due_patients' annotations in the order it adds them (a values() row's columns).
SHOWN = (
    "pk",
    "first_name",
    "last_name",
    "email",
    "phone",
    "reminders_by_email",
    "reminders_by_sms",
    "non_essential_opt_out",
    "due_day",
    "last_day",
    "rating",
    "density",
    "seen_on",
)
# What due_rows reads: the three outcome columns as one (_OUTCOME).
_READ = (*SHOWN[:-3], "outcome")


def due_patients(*, today: date, within_weeks: int = DEFAULT_WEEKS) -> QuerySet[Patient]:
    """Patients with a live session, none open from `today` on, whose gap ends (the latest
    `gap_until` of their live sessions, on the sessions' sites' calendars) by `today` +
    `within_weeks` weeks; the soonest due first. Annotated: `last_day` (their latest live
    session's day), `due_day`, and their latest recorded follow-up's `rating`, `density`
    and `seen_on` (None if none yet).

    Each patient is joined to their latest live session (the one no live session of theirs
    ends its gap after), so PostgreSQL walks live sessions by `gap_until`
    (session_live_gap_until_idx) and stops at the page's end, instead of grouping every
    patient's sessions (0.7 s at 100,000 patients, seconds at 1,000,000)."""
    return _with_outcome(_due_by(today, today + timedelta(weeks=within_weeks)))


def _due_by(today: date, due_by: date) -> QuerySet[Patient]:
    """due_patients, due by `due_by` (both days reach the SQL as parameters: due_rows
    compiles it once)."""
    live = Q(status__in=LIVE_STATUSES)
    later = TreatmentSession.objects.filter(live, patient=OuterRef("pk")).filter(
        Q(gap_until__gt=OuterRef("due_day"))
        | Q(gap_until=OuterRef("due_day"), pk__gt=OuterRef("latest_pk"))
    )
    last_day = (
        TreatmentSession.objects.filter(live, patient=OuterRef("pk"))
        .order_by("-local_date")
        .values("local_date")[:1]
    )
    booked = TreatmentSession.objects.filter(
        patient=OuterRef("pk"), status__in=OPEN_STATUSES, local_date__gte=today
    )
    return (
        Patient.objects.filter(merged_into__isnull=True)
        .alias(latest=FilteredRelation("sessions", condition=Q(sessions__status__in=LIVE_STATUSES)))
        .annotate(due_day=F("latest__gap_until"))
        .alias(latest_pk=F("latest__pk"))
        .filter(due_day__lte=due_by)
        # `later` refers to the join through these two names: an OuterRef("latest__...")
        # joined the sessions a second time, so `latest` was any live session whose gap had
        # ended (a patient listed once per such session, due from the oldest one's gap).
        .filter(~Exists(later), ~Exists(booked))
        .annotate(last_day=Subquery(last_day))
        .order_by("due_day", "last_name", "first_name", "pk")
    )


def _latest_done() -> QuerySet[FollowUp]:
    """The patient's (OuterRef("pk")) follow-ups recorded as done, the latest seen first."""
    return FollowUp.objects.filter(
        session__patient=OuterRef("pk"), status=FollowUpStatus.DONE
    ).order_by("-seen_on", "-pk")


def _with_outcome(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """due_patients' outcome columns: their latest recorded follow-up's rating, density
    and day, a subquery each."""
    latest_done = _latest_done()
    return patients.annotate(
        rating=Subquery(latest_done.values("patient_rating")[:1]),
        density=Subquery(latest_done.values("hair_density_per_cm2")[:1]),
        seen_on=Subquery(latest_done.values("seen_on")[:1]),
    )


# The latest recorded follow-up's rating, density and day as one text, "7|150.5|2026-09-01"
# (a part empty where it is NULL; none of the three can hold "|"): the list's page reads
# its outcome with one subquery a row, not three (each sorts the patient's follow-ups).
_OUTCOME = Concat(
    Cast("patient_rating", TextField()),
    Value("|"),
    Cast("hair_density_per_cm2", TextField()),
    Value("|"),
    Cast("seen_on", TextField()),  # ISO: the database drivers read days only in ISO
    output_field=TextField(),
)
_DENSITY_PLACES = FollowUp._meta.get_field("hair_density_per_cm2").decimal_places


def _outcome(text: str | None) -> tuple[int | None, Decimal | None, date | None]:
    """_OUTCOME's text as the ORM gives the three columns (a decimal to its field's places,
    as the ORM's converters give it on SQLite; PostgreSQL's column holds that scale)."""
    if text is None:
        return None, None, None
    rating, density, seen_on = text.split("|")
    return (
        int(rating) if rating else None,
        Decimal(density).quantize(Decimal(1).scaleb(-_DENSITY_PLACES)) if density else None,
        date.fromisoformat(seen_on) if seen_on else None,
    )


def due_rows(*, today: date, within_weeks: int, start: int, stop: int) -> list[dict[str, Any]]:
    """Rows `start` to `stop` - 1 of due_patients as dicts of SHOWN (read them inside
    serial_plan), from SQL compiled once a process for each slice: building and compiling
    the queryset (three subqueries, two NOT EXISTS, a filtered join) cost more CPU than the
    rest of the page, and the list shows the rows, it needs no Patient instances. The
    outcome is read as one column (_OUTCOME) and given as due_patients' three."""
    due_by = today + timedelta(weeks=within_weeks)
    rows = _page_read(start, stop).rows(today=today, due_by=due_by)
    for row in rows:
        row["rating"], row["density"], row["seen_on"] = _outcome(row.pop("outcome"))
    return rows


def _page_read(start: int, stop: int) -> PreparedValues:
    """The read of one slice (accounts.prepared.sliced: a statement a page number)."""
    return sliced(_due_values, start, stop, today=date, due_by=date)


def _due_values(today: date, due_by: date):
    latest_done = _latest_done().values(outcome=_OUTCOME)[:1]
    return _due_by(today, due_by).annotate(outcome=Subquery(latest_done)).values(*_READ)


@contextmanager
def serial_plan() -> Iterator[None]:
    """Read due_patients' page inside this: no parallel workers for it (PostgreSQL). Its
    walk stops after a few hundred sessions, and the planner's Gather Merge cost more to
    start than it saved: at 1,000,000 patients 58-113 ms with two workers against 23-48 ms
    without, on this 2-core machine under load. SET LOCAL: for this transaction only."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield
