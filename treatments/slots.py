"""The slot finder: the free slots a patient may take at a site over a range of days.

One selector for the staff booking page (and for patient self-booking, the waitlist and
the recall list to call): a slot is offered only where

- the site is open and the clinician works there, is not absent, and is free;
- a room of the site is in service and free (treatments.availability, as the booking
  services ask it);
- the protocol allows the patient: the six-month gap from their live sessions both ways
  (treatments.rules.gap_conflicts) and enough notice that the NSAID pause has not begun
  (treatments.rules.nsaid_window, on the patient's calendar, as book_session refuses
  `nsaid_window_started`);
- it starts after `now` and ends by patients.validators.LATEST_DAY.

Slots lie on a grid from each opening interval's start, one slot length apart
(DEFAULT_SESSION_MINUTES unless `duration` is given). A site without opening hours is
searched from SLOT_DAY_START to SLOT_DAY_END every day. Everything is loaded for the whole
range at once (three queries on PostgreSQL, six elsewhere, whatever the range and the
number of sessions: pinned in tests/test_scheduling.py; the site's availability, rooms,
clinicians and busy times are one statement, _load; with a limit, a week's busy times first
and the rest of the range only when needed) and computed in Python: the busy times come
grouped per clinician and per room (_busy_times) and each start bisects them (bench/slots.py
measures a month at the bench data).

A hint, not a reservation: the booking service checks again under its lock.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import FloatField, Func

from accounts.prepared import JsonRows, PreparedGet, PreparedValues
from patients.models import Patient
from patients.validators import LATEST_DAY
from sites import hours
from sites.models import Site

from . import availability, rules
from .models import LIVE_STATUSES, ProtocolVersion, Room, TreatmentSession
from .selectors import SLOT_DAY_END, SLOT_DAY_START, booked_days, clinicians, live_booked_days
from .services import clinic_tz

DEFAULT_SESSION_MINUTES = 60

User = get_user_model()


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime
    local_start: datetime  # on the site's clock
    clinician: User  # type: ignore[valid-type]
    room: Room
    site: Site

    @property
    def clinician_name(self) -> str:
        return self.clinician.get_full_name() or self.clinician.username  # type: ignore[attr-defined]

    @property
    def day_iso(self) -> str:
        return self.local_start.date().isoformat()

    @property
    def time_hm(self) -> str:
        return f"{self.local_start:%H:%M}"

    @property
    def text(self) -> str:
        """ "Tue 3 Mar 2027, 09:00 Berlin time, Dr Meyer, Room 2"."""
        when = f"{self.local_start:%a} {self.local_start.day} {self.local_start:%b %Y, %H:%M}"
        return f"{when} {self.site.city} time, {self.clinician_name}, {self.room.name}"


def free_slots(
    *,
    patient: Patient,
    site: Site,
    start_day: date,
    end_day: date,
    now: datetime,
    duration: timedelta | None = None,
    limit: int | None = None,
    ignoring: TreatmentSession | None = None,
    booked: list[rules.BookedDay] | None = None,
    protocol: ProtocolVersion | None = None,
) -> list[Slot]:
    """The free slots for `patient` at `site` from `start_day` to `end_day` (inclusive, on
    the site's clock), ordered by time; at most one per start time (the first clinician by
    name, then the first room). `now` decides what is past and, on the patient's calendar,
    the NSAID notice (as book_session). `ignoring`: a session of the patient's being moved
    (its own time and gap do not block its new time, as reschedule_session sees it).
    `booked`: the patient's live sessions as selectors.live_booked_days reads them, when the
    caller has just read them (the booking page: its eligibility); not with `ignoring`.
    `protocol`: the version in force on the clinic's day of `now`, when the caller has just
    read it (the booking page after the service's refusal)."""
    if patient.merged_into_id:
        return []
    length = duration or timedelta(minutes=DEFAULT_SESSION_MINUTES)
    tz = site.tz
    end_day = min(end_day, LATEST_DAY)
    if end_day < start_day:
        return []
    ignored = [ignoring.pk] if ignoring else []
    clinic_today = rules.local_day(now, clinic_tz())
    if protocol is None:
        protocol = ProtocolVersion.objects.in_force_on(clinic_today)
    terms = protocol.terms
    if ignored:
        rows = booked_days(patient.pk).exclude(pk__in=ignored)
        booked = [rules.BookedDay(row["local_date"], row["gap_months"]) for row in rows]
    elif booked is None:
        booked = live_booked_days(patient.pk)
    patient_today = rules.local_day(now, patient.tz)
    # The days the six-month gap allows: none (a patient treated recently) needs no more
    # queries; otherwise only their span is loaded.
    # A day on or after every session's blocks_until conflicts with none of them (the second
    # condition of rules.gap_conflicts): only the days before that are asked.
    reach = max((other.blocks_until for other in booked), default=start_day)
    open_days = [
        day
        for day in hours.days(start_day, end_day)
        if day >= reach
        or not rules.gap_conflicts(day, gap_months=protocol.gap_months, others=booked)
    ]
    if not open_days:
        return []
    # With a limit (the booking page's next slots, the waitlist's first free time) the busy
    # times are read a week first, then the rest of the range if that week has too few.
    chunks = [open_days] if limit is None else [open_days[:7], open_days[7:]]
    loaded = _load(site, open_days[0], open_days[-1], chunks[0], length, ignored)
    available = loaded.available
    # Rows (id, row), made model instances only for the slots found (`made`): at 200
    # clinicians and rooms a month's search would otherwise build 400 instances for 8 slots.
    rooms = loaded.rooms
    doctors = loaded.doctors
    if available.has_hours:  # (without hours every clinician works there: not asked each)
        doctors = [(pk, row) for pk, row in doctors if available.works_at_site(pk)]
    if not rooms or not doctors:
        return []
    made: dict[tuple[str, int], object] = {}

    def instance(kind: str, pk: int, row):
        if (kind, pk) not in made:
            if kind == "room":
                room = loaded.room(row)
                # The rooms are the site's (_site_rooms): book_session reads the room's site
                # (self-booking, a waitlist offer accepted), which would be a query. (Cached
                # as select_related caches it: `room.site = site` also runs the descriptor's
                # checks, which site_id, the same already, does not need.)
                _ROOM_SITE.set_cached_value(room, site)
                made[kind, pk] = room
            else:
                made[kind, pk] = loaded.doctor(row)
        return made[kind, pk]

    found: list[Slot] = []
    # Whether a start has passed both `now` and the notice: the starts ascend (days in order,
    # each day's grid sorted), and a later start is as late on the patient's calendar too,
    # so every start after it passes them; they are not asked again.
    past_notice = False
    for chunk in chunks:
        if not chunk:
            continue
        if chunk is chunks[0] and loaded.busy is not None:
            busy = loaded.busy
        else:
            busy = _busy_times(chunk[0], chunk[-1], tz, length, ignored)
        doctor_times = [(pk, row, busy.clinicians.get(pk, _NEVER)) for pk, row in doctors]
        room_times = [(pk, row, busy.rooms.get(pk, _NEVER)) for pk, row in rooms]
        for day in chunk:
            for start in _grid(day, available, length):
                end = start + length
                if not past_notice:
                    if start < now or not _notice_ok(start, patient, patient_today, terms):
                        continue
                    past_notice = True
                slot = _first_free(start, end, doctor_times, room_times, available)
                if slot is None:
                    continue
                (doctor_id, doctor), (room_id, room) = slot
                found.append(
                    Slot(
                        start,
                        end,
                        start.astimezone(tz),
                        instance("clinician", doctor_id, doctor),
                        instance("room", room_id, room),
                        site,
                    )
                )
                if limit is not None and len(found) >= limit:
                    return found
    return found


def _site_rooms(site_id):
    return Room.objects.filter(site_id=site_id, is_active=True).order_by("name")


# What the finder reads of a clinician: what a Slot shows (Slot.clinician_name) and what
# the services it is handed to read (book_session's and reschedule_session's clinician
# check: is_active, the name in the refusal; the session takes the id). At 200 clinicians
# (1,000,000 patients) writing and parsing every User column as JSON took the finder's one
# statement from about 7.5 to 11.9 ms. Slot.clinician defers the other fields: reading one
# would be a query (tests/test_scheduling.py checks a booking through a slot reads none).
DOCTOR_FIELDS = ("id", "username", "first_name", "last_name", "is_active")


def _doctors():
    return clinicians().order_by("last_name", "first_name", "username")


# The finder's reads, compiled once a process (accounts.prepared): building and compiling
# them took the ORM about as much CPU as the finder's own work on a month.
_ROOMS = PreparedGet(_site_rooms)
_DOCTORS = PreparedGet(lambda: _doctors().only(*DOCTOR_FIELDS), key=None)
# On PostgreSQL the rooms and the clinicians are read in _FINDER's one statement, as JSON.
_ROOM_JSON = JsonRows(Room)
_ROOM_SITE = Room._meta.get_field("site")
_DOCTOR_JSON = JsonRows(User, only=DOCTOR_FIELDS)


def _finder_row(**arguments):
    """The site's availability (treatments.availability's arrays), its rooms in service and
    the clinicians (_ROOMS' and _DOCTORS' rows, as JSON arrays) in one row."""
    return (
        Site.objects.filter(pk=arguments["site_id"])
        .order_by()
        .values(
            **availability.as_annotations(**arguments),
            finder_rooms=_ROOM_JSON.array(_site_rooms(arguments["site_id"])),
            # clinicians() is DISTINCT: its ids, so its order needs no column of the array's.
            finder_doctors=_DOCTOR_JSON.array(
                User.objects.filter(pk__in=clinicians().order_by().values("pk")).order_by(
                    *_doctors().query.order_by
                )
            ),
        )
    )


_FINDER = PreparedValues(_finder_row, **availability.ARGUMENTS)


@dataclass
class Loaded:
    """What the finder reads before it looks: the site's availability, its rooms and the
    clinicians as (id, row) with `room(row)` and `doctor(row)` making a row its instance,
    and the busy times of the first days searched (None: not read yet)."""

    available: availability.Availability
    rooms: list[tuple[int, object]]
    doctors: list[tuple[int, object]]
    room: Callable[[object], Room]
    doctor: Callable[[object], object]
    busy: BusyTimes | None


def _load(
    site: Site, first_day: date, last_day: date, busy_days: list[date], length, ignored
) -> Loaded:
    """The site's availability from `first_day` to `last_day`, its rooms, the clinicians and
    the busy times over `busy_days`. On PostgreSQL one statement (_FINDER's row, and the busy
    times grouped as _busy_times groups them, in one row: _IN_ONE_ROW) unless a session is
    `ignored` (then its busy times are read apart); elsewhere the ORM's queries, one each."""
    if connection.vendor != "postgresql":
        return Loaded(
            availability.load(site, first_day, last_day),
            [(_ROOMS.pk_of(row), row) for row in _ROOMS.rows(site.pk)],
            [(_DOCTORS.pk_of(row), row) for row in _DOCTORS.rows()],
            _ROOMS.instance,
            _DOCTORS.instance,
            None,
        )
    sql, params = _FINDER.sql_with_params(**availability.arguments(site, first_day, last_day))
    names = _FINDER.columns()
    busy_params: list = []
    if ignored:
        busy_sql = "SELECT NULL, NULL, NULL, NULL, NULL"
    else:
        bounds = _busy_bounds(busy_days[0], busy_days[-1], site.tz, length)
        inner, busy_params = _BUSY_ROWS.sql_with_params(**bounds)
        busy_sql = _IN_ONE_ROW.format(_GROUPED.format(inner))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT finder.*, busy.* FROM ({sql}) AS finder "  # noqa: S608 - the ORM's SQL
            f"CROSS JOIN ({busy_sql}) AS busy",
            [*params, *busy_params],
        )
        found = cursor.fetchone()
    if found is None:  # as the ORM's .get() says it
        raise Site.DoesNotExist("Site matching query does not exist.")
    row = dict(zip(names, found, strict=False))
    rooms, doctors = _ROOM_JSON.rows(row["finder_rooms"]), _DOCTOR_JSON.rows(row["finder_doctors"])
    room_at, doctor_at = _ROOM_JSON.pk_at, _DOCTOR_JSON.pk_at  # (not a call per row)
    return Loaded(
        availability.from_row(site, row),
        [(room[room_at], room) for room in rooms],
        [(doctor[doctor_at], doctor) for doctor in doctors],
        _ROOM_JSON.instance,
        _DOCTOR_JSON.instance,
        None if ignored else _busy_from_one_row(*found[len(names) :]),
    )


def _grid(day: date, available: availability.Availability, length: timedelta) -> list[datetime]:
    if available.has_hours:
        intervals = available.open_intervals(day)
    else:
        intervals = [hours.wall_interval(day, SLOT_DAY_START, SLOT_DAY_END, available.site_tz)]
    starts: set[datetime] = set()
    for opens, closes in intervals:
        start = opens
        while start + length <= closes:
            starts.add(start)
            start += length
    return sorted(starts)


def _notice_ok(start: datetime, patient: Patient, patient_today: date, terms) -> bool:
    """The NSAID pause of a session at `start` has not begun by the patient's today (no
    short-notice confirmation needed): book_session's rule (`nsaid_window_started`), the
    same call."""
    window = rules.nsaid_window(rules.local_day(start, patient.tz), terms=terms)
    return not window.has_started(patient_today)


# The busy times of one clinician or room over the range: their starts in ascending order and,
# at each position, the latest end of the intervals up to it, in seconds since the epoch
# (floats: a float holds an instant to the microsecond, and PostgreSQL's and Python's
# conversions round alike, so they compare as the instants do). Live sessions of one
# clinician or room never overlap on PostgreSQL, where the latest end is each one's own.
Timeline = tuple[Sequence[float], Sequence[float]]
_NEVER: Timeline = ((), ())


@dataclass
class BusyTimes:
    clinicians: dict[int, Timeline]
    rooms: dict[int, Timeline]


def _free_at(resources, start: float, end: float):
    """The (id, clinician or room) of `resources`, (id, it, its Timeline) in their order,
    that are free for [start, end): of their intervals starting before `end` (a
    bisection), none ends after `start`."""
    for key, resource, (starts, reach) in resources:
        before = bisect_left(starts, end)
        if not before or reach[before - 1] <= start:
            yield key, resource


def _timeline(starts: list[float], ends: list[float]) -> Timeline:
    if starts != sorted(starts):  # PostgreSQL aggregates in the index's order; not promised
        order = sorted(range(len(starts)), key=starts.__getitem__)
        starts, ends = [starts[n] for n in order], [ends[n] for n in order]
    if ends == sorted(ends):  # no overlaps (PostgreSQL's exclusion constraints): as they are
        return starts, ends
    return starts, list(accumulate(ends, max))


def _floats(packed) -> list[float]:
    """PostgreSQL's float8send values, concatenated (big-endian doubles), as floats."""
    values = array("d")
    values.frombytes(packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values.tolist()


class EpochSeconds(Func):
    """An instant as seconds since the epoch (PostgreSQL; a float, exact to the
    microsecond, as Python's datetime.timestamp())."""

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()


def _busy_times(
    first_day: date, last_day: date, tz, length: timedelta, ignored: list[int]
) -> BusyTimes:
    """Every live session that may overlap a slot from `first_day` to `last_day` (the site's
    clock), as each clinician's and each room's timeline. One query: on PostgreSQL it groups
    them itself (an index-only scan of session_live_busy_idx in the order of the starts,
    hashed per clinician and per room into their starts and ends as packed binary doubles),
    so Python handles a row per clinician and room, not a row or a parsed number per session
    (26,000 in a month at 1,000,000 patients)."""
    bounds = _busy_bounds(first_day, last_day, tz, length)
    busy = BusyTimes({}, {})
    if connection.vendor == "postgresql":
        if ignored:
            inner, params = _busy_rows(**bounds).exclude(pk__in=ignored).query.sql_with_params()
        else:
            inner, params = _BUSY_ROWS.sql_with_params(**bounds)
        with connection.cursor() as cursor:
            cursor.execute(_GROUPED.format(inner), params)
            return _busy_from(cursor.fetchall())
    sessions = _busy_sessions(**bounds).exclude(pk__in=ignored)
    by_clinician: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    by_room: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for clinician_id, room_id, starts_at, ends_at in sessions.values_list(
        "clinician_id", "room_id", "starts_at", "ends_at"
    ):
        for times in (by_clinician[clinician_id], by_room[room_id]):
            times[0].append(starts_at.timestamp())
            times[1].append(ends_at.timestamp())
    busy.clinicians = {key: _timeline(*times) for key, times in by_clinician.items()}
    busy.rooms = {key: _timeline(*times) for key, times in by_room.items()}
    return busy


# _busy_rows' sessions ({}: its SQL) grouped per clinician and per room, their starts and ends
# as packed binary doubles: the ORM's SQL and parameters, nothing else, go in.
_GROUPED = (
    "SELECT busy.clinician_id, busy.room_id, "
    "string_agg(float8send(busy.s), '') AS s, string_agg(float8send(busy.e), '') AS e "
    "FROM ({}) AS busy GROUP BY GROUPING SETS ((busy.clinician_id), (busy.room_id))"
)


# _GROUPED's rows ({}: its SQL) in one row, for _load's statement: their ids, the length of
# each one's packed starts (its ends' too), and all their starts and all their ends packed
# one after the other, every column in the same order. Not an array of each row's packed
# values: PostgreSQL writes a bytea[] as text with each element quoted and escaped, which
# the driver then parses; at 1,000,000 patients (400 rows, 5,500 sessions a week) the arrays
# took the statement about 2 ms longer than these two values.
_IN_ONE_ROW = (  # noqa: S608 - no value goes in, only _GROUPED's SQL
    "SELECT array_agg(grouped.clinician_id {order}), array_agg(grouped.room_id {order}), "
    "array_agg(length(grouped.s) {order}), string_agg(grouped.s, '' {order}), "
    "string_agg(grouped.e, '' {order}) FROM ({{}}) AS grouped"
).format(order="ORDER BY grouped.clinician_id, grouped.room_id")


def _busy_from_one_row(clinician_ids, room_ids, lengths, starts, ends) -> BusyTimes:
    """BusyTimes from _IN_ONE_ROW's row (all NULL without a session)."""
    if not lengths:
        return BusyTimes({}, {})
    all_starts, all_ends = _floats(starts), _floats(ends)
    rows = []
    at = 0
    for clinician_id, room_id, size in zip(clinician_ids, room_ids, lengths, strict=True):
        end = at + size // 8  # (8 bytes a double)
        rows.append((clinician_id, room_id, all_starts[at:end], all_ends[at:end]))
        at = end
    return _busy_of(rows)


def _busy_from(rows) -> BusyTimes:
    """BusyTimes from _GROUPED's rows (clinician id, room id, starts, ends)."""
    return _busy_of(
        (clinician_id, room_id, _floats(starts), _floats(ends))
        for clinician_id, room_id, starts, ends in rows
    )


def _busy_of(rows) -> BusyTimes:
    """BusyTimes from rows of (clinician id, room id, starts, ends as floats): a clinician's
    with no room id, a room's with no clinician id."""
    busy = BusyTimes({}, {})
    for clinician_id, room_id, starts, ends in rows:
        timeline = _timeline(starts, ends)
        if room_id is None:
            busy.clinicians[clinician_id] = timeline
        else:
            busy.rooms[room_id] = timeline
    return busy


def _busy_bounds(first_day: date, last_day: date, tz, length: timedelta) -> dict:
    """_busy_sessions' bounds for slots from `first_day` to `last_day` (the site's clock)."""
    range_start = datetime.combine(first_day, time(0), tzinfo=tz)
    range_end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz) + length
    # Sessions are never a day long: the lower bound keeps this an index range scan.
    return {
        "starts_after": range_start - timedelta(days=1),
        "starts_before": range_end,
        "ends_after": range_start,
    }


def _busy_sessions(*, starts_after: datetime, starts_before: datetime, ends_after: datetime):
    """The live sessions that start in (starts_after, starts_before) and end after
    `ends_after`, in the order of their starts."""
    return TreatmentSession.objects.filter(
        status__in=LIVE_STATUSES,
        starts_at__gt=starts_after,
        starts_at__lt=starts_before,
        ends_at__gt=ends_after,
    ).order_by("starts_at")


def _busy_rows(**bounds):
    """_busy_sessions' clinician, room, start and end (seconds since the epoch)."""
    return (
        _busy_sessions(**bounds)
        .annotate(s=EpochSeconds("starts_at"), e=EpochSeconds("ends_at"))
        .values_list("clinician_id", "room_id", "s", "e")
    )


_BUSY_ROWS = PreparedValues(
    _busy_rows, starts_after=datetime, starts_before=datetime, ends_after=datetime
)


def _first_free(start, end, doctors, rooms, available):
    """The first ((id, clinician), (id, room)) free and available for [start, end),
    `doctors` and `rooms` as _free_at takes them. Lazy: a room's busy times are looked at
    once, and only until a pair is found."""
    start_s, end_s = start.timestamp(), end.timestamp()
    rooms_left = _free_at(rooms, start_s, end_s)
    free_rooms: list = []  # those of rooms_left looked at so far
    for doctor_id, doctor in _free_at(doctors, start_s, end_s):
        n = 0
        while True:
            if n == len(free_rooms):
                room = next(rooms_left, None)
                if room is None:
                    break
                free_rooms.append(room)
            room_id, room = free_rooms[n]
            n += 1
            if available.refusal(start, end, clinician_id=doctor_id, room_id=room_id) is None:
                return (doctor_id, doctor), (room_id, room)
        if not free_rooms:  # every room was looked at: none is free
            return None
    return None
