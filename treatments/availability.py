"""When a site, its clinicians and its rooms can take a session: loaded once for a site and
a range of days (a constant number of queries), then asked in Python.

Both the booking services (one session) and the slot finder (a month of slots) ask the
same `Availability.refusal`, so the finder never offers what a booking would refuse.

A site with no opening hours at all refuses nothing for hours (neither its own nor its
clinicians' working hours): a clinic that has not set them up books as before. Absences
and rooms out of service refuse always.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.functions import JSONObject

from accounts.prepared import PreparedValues
from sites import hours
from sites.models import ClinicianAbsence, OpeningHours, Site, SiteClosure, WorkingHours

from .models import RoomOutOfService

Weekly = list[tuple[int, time, time]]


@dataclass
class Availability:
    site_tz: ZoneInfo
    city: str
    has_hours: bool
    opening: Weekly
    closed_days: set[date]
    working: dict[int, Weekly] = field(default_factory=dict)  # clinician id → weekly rows
    absences: dict[int, list[hours.Interval]] = field(default_factory=dict)
    outages: dict[int, list[hours.Interval]] = field(default_factory=dict)  # room id
    # Intervals already turned into instants: (clinician id or None for the site, day).
    _intervals: dict[tuple[int | None, date], list[hours.Interval]] = field(
        default_factory=dict, repr=False
    )

    def open_intervals(self, day: date) -> list[hours.Interval]:
        """When the site is open on `day` (its clock), as instants; [] on a closure."""
        key = (None, day)
        if key not in self._intervals:
            self._intervals[key] = (
                []
                if day in self.closed_days
                else hours.day_intervals(day, self.opening, self.site_tz)
            )
        return self._intervals[key]

    def working_intervals(self, clinician_id: int, day: date) -> list[hours.Interval]:
        """When the clinician works at the site on `day` (its clock), as instants."""
        key = (clinician_id, day)
        if key not in self._intervals:
            weekly = self.working.get(clinician_id, [])
            self._intervals[key] = hours.day_intervals(day, weekly, self.site_tz)
        return self._intervals[key]

    def works_at_site(self, clinician_id: int) -> bool:
        return not self.has_hours or bool(self.working.get(clinician_id))

    def refusal(
        self, start: datetime, end: datetime, *, clinician_id: int, room_id: int
    ) -> ValidationError | None:
        """The coded refusal for a session [start, end) with this clinician and room, or
        None when all are available."""
        if hours.overlaps(start, end, self.outages.get(room_id, ())):
            return ValidationError(
                "The room is out of service at that time; choose another room or time.",
                code="room_out_of_service",
            )
        if hours.overlaps(start, end, self.absences.get(clinician_id, ())):
            return ValidationError(
                "The clinician is absent at that time; choose another clinician or time.",
                code="clinician_absent",
            )
        if not self.has_hours:
            return None
        day = start.astimezone(self.site_tz).date()
        if not hours.covered(start, end, self.open_intervals(day)):
            return ValidationError(
                "The site is closed at that time (%(city)s time); choose a time within its "
                "opening hours.",
                code="outside_hours",
                params={"city": self.city},
            )
        if not hours.covered(start, end, self.working_intervals(clinician_id, day)):
            return ValidationError(
                "The clinician does not work at this site at that time (%(city)s time); "
                "choose another clinician or time.",
                code="clinician_absent",
                params={"city": self.city},
            )
        return None


# The arguments of the statement that reads a site's availability (`arguments` gives them),
# by type: the site, its days, and the instants that bound absences and outages.
ARGUMENTS = {
    "site_id": int,
    "first_day": date,
    "last_day": date,
    "range_start": datetime,
    "range_end": datetime,
}


def arguments(site: Site, first_day: date, last_day: date) -> dict[str, Any]:
    """The ARGUMENTS for `site` from `first_day` to `last_day` (its clock): absences and
    outages are read a day either side, as instants."""
    tz = site.tz
    return {
        "site_id": site.pk,
        "first_day": first_day,
        "last_day": last_day,
        "range_start": datetime.combine(first_day - timedelta(days=1), time(0), tzinfo=tz),
        "range_end": datetime.combine(last_day + timedelta(days=2), time(0), tzinfo=tz),
    }


def _querysets(
    *, site_id: int, first_day: date, last_day: date, range_start: datetime, range_end: datetime
) -> dict:
    """The five row sets that decide availability at the site from `first_day` to
    `last_day` (its clock), as (values) querysets named by what they hold."""
    return {
        "opening": OpeningHours.objects.filter(site_id=site_id).values(
            "weekday", "opens", "closes"
        ),
        "closures": SiteClosure.objects.filter(
            site_id=site_id, first_day__lte=last_day, last_day__gte=first_day
        ).values("first_day", "last_day"),
        "working": WorkingHours.objects.filter(site_id=site_id).values(
            "clinician_id", "weekday", "opens", "closes"
        ),
        "absences": ClinicianAbsence.objects.filter(
            starts_at__lt=range_end, ends_at__gt=range_start
        ).values("clinician_id", "starts_at", "ends_at"),
        "outages": RoomOutOfService.objects.filter(
            room__site_id=site_id, starts_at__lt=range_end, ends_at__gt=range_start
        ).values("room_id", "starts_at", "ends_at"),
    }


def _as_json_array(rows) -> ArraySubquery:
    """A values queryset as one array of JSON objects (its fields by name)."""
    fields = list(rows.query.values_select)
    return ArraySubquery(rows.values(row=JSONObject(**{f: f for f in fields})))


def as_annotations(*, prefix: str = "av_", **arguments) -> dict:
    """What `load` reads, as annotations for any one-row query (PostgreSQL), given its
    ARGUMENTS: the booking service reads them in the statement of its other checks.
    `from_row` makes the Availability of that row."""
    sets = _querysets(**arguments)
    return {prefix + name: _as_json_array(rows) for name, rows in sets.items()}


def from_row(site: Site, row: dict, *, prefix: str = "av_") -> Availability:
    """The Availability of a row read with `annotations_for` (its values by name)."""

    def rows(name):
        return [json.loads(item) if isinstance(item, str) else item for item in row[prefix + name]]

    return _build(
        site,
        opening=[
            (r["weekday"], time.fromisoformat(r["opens"]), time.fromisoformat(r["closes"]))
            for r in rows("opening")
        ],
        closures=[
            (date.fromisoformat(r["first_day"]), date.fromisoformat(r["last_day"]))
            for r in rows("closures")
        ],
        working=[
            (
                r["clinician_id"],
                r["weekday"],
                time.fromisoformat(r["opens"]),
                time.fromisoformat(r["closes"]),
            )
            for r in rows("working")
        ],
        absences=[
            (r["clinician_id"], _instant(r["starts_at"]), _instant(r["ends_at"]))
            for r in rows("absences")
        ],
        outages=[
            (r["room_id"], _instant(r["starts_at"]), _instant(r["ends_at"]))
            for r in rows("outages")
        ],
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# load's statement, compiled once a process: building and compiling its five subqueries
# cost more CPU (about 1.5 ms) than PostgreSQL spends answering it.
_load = PreparedValues(
    lambda **arguments: (
        Site.objects.filter(pk=arguments["site_id"])
        .order_by()
        .values(**as_annotations(**arguments))
    ),
    **ARGUMENTS,
)


def load(site: Site, first_day: date, last_day: date) -> Availability:
    """Everything that decides availability at `site` from `first_day` to `last_day` (its
    clock): one query on PostgreSQL (five arrays in one row), five elsewhere."""
    if connection.vendor == "postgresql":
        rows = _load.rows(**arguments(site, first_day, last_day))
        if not rows:  # as the ORM's .get() says it
            raise Site.DoesNotExist("Site matching query does not exist.")
        return from_row(site, rows[0])
    sets = _querysets(**arguments(site, first_day, last_day))
    return _build(site, **{name: [tuple(r.values()) for r in rows] for name, rows in sets.items()})


def _build(site: Site, *, opening, closures, working, absences, outages) -> Availability:
    closed: set[date] = set()
    for first, last in closures:
        closed.update(hours.days(first, last))
    by_clinician: dict[int, Weekly] = defaultdict(list)
    for clinician_id, weekday, opens, closes in working:
        by_clinician[clinician_id].append((weekday, opens, closes))
    away: dict[int, list[hours.Interval]] = defaultdict(list)
    for clinician_id, starts, ends in absences:
        away[clinician_id].append((starts, ends))
    out: dict[int, list[hours.Interval]] = defaultdict(list)
    for room_id, starts, ends in outages:
        out[room_id].append((starts, ends))
    return Availability(
        site_tz=site.tz,
        city=site.city,
        has_hours=bool(opening),
        opening=list(opening),
        closed_days=closed,
        working=dict(by_clinician),
        absences=dict(away),
        outages=dict(out),
    )
