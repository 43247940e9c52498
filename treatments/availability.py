"""When a site, its clinicians and its rooms can take a session: loaded once for a site and
a range of days (a constant number of queries), then asked in Python.

Both the booking services (one session) and the slot finder (a month of slots) ask the
same `Availability.refusal`, so the finder never offers what a booking would refuse.

A site with no opening hours at all refuses nothing for hours (neither its own nor its
clinicians' working hours): a clinic that has not set them up books as before. Absences
and rooms out of service refuse always.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

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


def load(site: Site, first_day: date, last_day: date) -> Availability:
    """Everything that decides availability at `site` from `first_day` to `last_day` (its
    clock), in five queries (unordered: the models' default ordering would join the site
    only to sort by its name)."""
    tz = site.tz
    range_start = datetime.combine(first_day - timedelta(days=1), time(0), tzinfo=tz)
    range_end = datetime.combine(last_day + timedelta(days=2), time(0), tzinfo=tz)
    opening = list(
        OpeningHours.objects.filter(site=site).order_by().values_list("weekday", "opens", "closes")
    )
    closed: set[date] = set()
    for first, last in (
        SiteClosure.objects.filter(site=site, first_day__lte=last_day, last_day__gte=first_day)
        .order_by()
        .values_list("first_day", "last_day")
    ):
        closed.update(hours.days(first, last))
    working: dict[int, Weekly] = defaultdict(list)
    for clinician_id, weekday, opens, closes in (
        WorkingHours.objects.filter(site=site)
        .order_by()
        .values_list("clinician_id", "weekday", "opens", "closes")
    ):
        working[clinician_id].append((weekday, opens, closes))
    absences: dict[int, list[hours.Interval]] = defaultdict(list)
    for clinician_id, starts, ends in (
        ClinicianAbsence.objects.filter(starts_at__lt=range_end, ends_at__gt=range_start)
        .order_by()
        .values_list("clinician_id", "starts_at", "ends_at")
    ):
        absences[clinician_id].append((starts, ends))
    outages: dict[int, list[hours.Interval]] = defaultdict(list)
    for room_id, starts, ends in (
        RoomOutOfService.objects.filter(
            room__site=site, starts_at__lt=range_end, ends_at__gt=range_start
        )
        .order_by()
        .values_list("room_id", "starts_at", "ends_at")
    ):
        outages[room_id].append((starts, ends))
    return Availability(
        site_tz=tz,
        city=site.city,
        has_hours=bool(opening),
        opening=opening,
        closed_days=closed,
        working=dict(working),
        absences=dict(absences),
        outages=dict(outages),
    )
