"""Reads the pages and other services need. No writes here.

Each page's read issues a fixed number of queries whatever the amount of data (related rows
come through select_related / prefetch_related, flags are computed in bulk).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache as once_per_process
from functools import lru_cache
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
)
from django.db.models.functions import JSONArray
from redis.exceptions import RedisError

from accounts import roles
from accounts.prepared import (
    JsonRows,
    PreparedGet,
    PreparedValues,
    json_array,
    prefetched,
    sliced,
    values_by_ids,
)
from patients.models import Patient

from . import rules
from .db import in_room, overlapping
from .formatting import span_maker
from .models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    ChangeRequest,
    FollowUp,
    FollowUpKind,
    FollowUpPhoto,
    FollowUpStatus,
    FreedSlot,
    FreedSlotStatus,
    OfferStatus,
    PhotoView,
    ProductLot,
    ProtocolVersion,
    SessionRecordRevision,
    SessionStatus,
    SessionVial,
    SideEffectReport,
    TreatmentSession,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    due_by,
    newest_protocols,
    nsaid_review_pending,
    overdue_on,
)


@dataclass(frozen=True)
class NextSessionEligibility:
    """When the patient's next session may be booked, and why."""

    earliest_day: date
    reason: str


def eligibility_from(sessions, *, today: date) -> NextSessionEligibility:
    """Eligibility from the patient's sessions (already loaded; only live ones count)."""
    booked = [s.as_booked_day() for s in sessions if s.status in LIVE_STATUSES]
    return eligibility_from_days(booked, today=today)


def eligibility_from_days(booked: list[rules.BookedDay], *, today: date) -> NextSessionEligibility:
    """Eligibility from the patient's live sessions as the gap rule sees them
    (live_booked_days)."""
    if not booked:
        return NextSessionEligibility(today, "No session yet: a first session can be booked.")
    gap = max(b.gap_months for b in booked)
    earliest = rules.earliest_allowed_day(today, gap_months=gap, others=booked)
    if earliest == today:
        return NextSessionEligibility(today, "The gap since the last session has passed.")
    blocking = max(
        (b for b in booked if b.day < earliest), key=lambda b: b.blocks_until, default=booked[0]
    )
    return NextSessionEligibility(
        earliest,
        f"{blocking.gap_months} months after the session on {blocking.day:%d %B %Y}",
    )


def _live_sessions(patient: Patient) -> list[TreatmentSession]:
    """The patient's live sessions, with what the gap rule reads of them. One query."""
    return list(
        TreatmentSession.objects.filter(patient=patient, status__in=LIVE_STATUSES).only(
            "local_date", "gap_months", "status"
        )
    )


def booked_days(patient_id: int):
    """The days and gaps of the patient's live sessions (what the six-month gap reads of
    them), as a values queryset."""
    return (
        TreatmentSession.objects.filter(patient_id=patient_id, status__in=LIVE_STATUSES)
        .order_by()
        .values("local_date", "gap_months")
    )


# booked_days compiled once a process (accounts.prepared): the booking page and the slot
# finder read it on every request.
BOOKED_DAYS = PreparedValues(booked_days, patient_id=int)


def live_booked_days(patient_id: int) -> list[rules.BookedDay]:
    """The patient's live sessions as the gap rule sees them. One query."""
    return [rules.BookedDay(day, gap) for day, gap in BOOKED_DAYS.tuples(patient_id=patient_id)]


def _booked_days_and_protocol(*, patient_id: int, day: date):
    """booked_days' rows and the protocol version in force on `day` (at most one), as JSON
    documents in one row of the patient."""
    return (
        Patient.objects.filter(pk=patient_id)
        .order_by()
        .values(
            booked=json_array(booked_days(patient_id).values(row=JSONArray(*_BOOKED_COLUMNS))),
            protocol=_PROTOCOL_JSON.array(
                newest_protocols(ProtocolVersion._default_manager.all(), day)[:1]
            ),
        )
    )


_BOOKED_COLUMNS = ("local_date", "gap_months")
_PROTOCOL_JSON = JsonRows(ProtocolVersion)
_BOOKED_DAYS_AND_PROTOCOL = PreparedValues(_booked_days_and_protocol, patient_id=int, day=date)


def live_booked_days_and_protocol(
    patient_id: int, *, day: date
) -> tuple[list[rules.BookedDay], ProtocolVersion | None]:
    """live_booked_days, and the protocol version in force on `day` (the clinic's): one
    statement on PostgreSQL, for a page that shows the eligibility and asks the slot finder
    (the booking page). Elsewhere, or when no version is in force, the version is None (the
    finder reads it, and says so as ProtocolVersion.objects.in_force_on says it)."""
    if connection.vendor != "postgresql":
        return live_booked_days(patient_id), None
    rows = _BOOKED_DAYS_AND_PROTOCOL.tuples(patient_id=patient_id, day=day)
    if not rows:  # no such patient: no sessions
        return [], None
    booked, protocol = (_PROTOCOL_JSON.rows(column) for column in rows[0])
    return (
        [rules.BookedDay(date.fromisoformat(day_text), gap) for day_text, gap in booked],
        _PROTOCOL_JSON.instance(protocol[0]) if protocol else None,
    )


def next_session_eligibility(patient: Patient, *, today: date) -> NextSessionEligibility:
    """The first day from `today` on that a new session of the patient breaks no gap."""
    return eligibility_from_days(live_booked_days(patient.pk), today=today)


@dataclass(frozen=True)
class DayPreview:
    """A day and time chosen on the booking page, before it is submitted."""

    day: date
    earliest_from_day: date  # the first day on or after `day` that breaks no gap
    nsaid_window: rules.NsaidWindow  # on the patient's calendar
    short_notice: bool  # the window has already begun on the patient's today

    @property
    def gap_ok(self) -> bool:
        return self.earliest_from_day == self.day


@dataclass(frozen=True)
class BookingPreview:
    eligibility: NextSessionEligibility
    chosen: DayPreview | None  # None: no (valid) day chosen yet


def booking_preview(
    patient: Patient,
    *,
    day: date | None,
    at: time,
    site_tz: ZoneInfo,
    today: date,
    now: datetime,
) -> BookingPreview:
    """What the booking page shows while a date is chosen, from one read of the patient's
    sessions: when the next session may be (as the page states it), and for `day` at `at`
    (the chosen room's site's clock) whether the gap allows it and its NSAID window, under
    the protocol in force today, the one the booking service would apply. Two queries.

    The booking service decides; this is the same arithmetic (treatments.rules) shown early.
    """
    sessions = _live_sessions(patient)
    eligibility = eligibility_from(sessions, today=today)
    if day is None:
        return BookingPreview(eligibility, None)
    terms = ProtocolVersion.objects.in_force_on(today).terms
    window = rules.nsaid_window(
        rules.local_day(rules.at_local(day, at, site_tz), patient.tz), terms=terms
    )
    earliest = rules.earliest_allowed_day(
        day, gap_months=terms.gap_months, others=[s.as_booked_day() for s in sessions]
    )
    return BookingPreview(
        eligibility,
        DayPreview(
            day=day,
            earliest_from_day=earliest,
            nsaid_window=window,
            short_notice=window.has_started(rules.local_day(now, patient.tz)),
        ),
    )


def previous_assessment_missing(session: TreatmentSession) -> bool:
    """A repeat session whose previous session's 6-month assessment is not recorded yet.

    Staff are warned (not stopped): the assessment should decide on the repeat session.
    """
    return session.pk in _sessions_missing_assessment([session])


def _sessions_missing_assessment(sessions) -> set[int]:
    """Of `sessions`, those whose patient's previous completed session lacks a done
    assessment. One query for any number of sessions."""
    ids = [s.pk for s in sessions]
    if not ids:
        return set()
    return set(
        TreatmentSession.objects.filter(pk__in=ids)
        .annotate(previous_assessed=_previous_assessed())
        .filter(previous_assessed=False)
        .values_list("pk", flat=True)
    )


def _previous_assessed() -> Subquery:
    """For each session: whether its patient's latest completed session on an earlier day
    has its 6-month assessment done (True/False), NULL without one. A repeat session whose
    previous session has False is "without 6-month assessment"."""
    done = FollowUp.objects.filter(
        session=OuterRef("pk"), kind=FollowUpKind.ASSESSMENT, status=FollowUpStatus.DONE
    )
    previous = (
        TreatmentSession.objects.filter(
            patient=OuterRef("patient"),
            status=SessionStatus.COMPLETED,
            local_date__lt=OuterRef("local_date"),
        )
        .order_by("-local_date", "-starts_at")
        .annotate(assessed=Exists(done))
        .values("assessed")[:1]
    )
    return Subquery(previous, output_field=BooleanField())


def session_record_versions(session: TreatmentSession) -> list[SessionRecordRevision]:
    """Every version of a completed session's record, oldest first, with who wrote each:
    kept from the first amendment on, so a record never amended costs no query."""
    if session.record_version <= 1:
        return []
    return list(session.record_revisions.select_related("recorded_by").order_by("version"))


def lot_recipients(lot: ProductLot):
    """Every patient who received a vial of this lot, with the session: the recall list."""
    # A lot an amendment replaced stays on the list: its earlier record names it.
    replaced = SessionRecordRevision.objects.filter(vials__contains=[{"lot_id": lot.pk}])
    return (
        TreatmentSession.objects.filter(
            Q(vials_used__lot=lot) | Q(pk__in=replaced.values("session_id"))
        )
        .distinct()
        .select_related("patient", "clinician")
        .order_by("local_date")
    )


def usable_lots(day: date):
    """Lots that may be recorded on a session held on `day`, soonest expiry first."""
    return ProductLot.objects.usable_on(day).order_by("expiry_date")


def lot_warnings(lot: ProductLot, today: date) -> list[str]:
    """The lot's warnings by the clinic's settings (LOT_EXPIRY_WARNING_DAYS,
    LOT_LOW_STOCK_VIALS)."""
    return lot.warnings(
        today,
        expiry_days=settings.LOT_EXPIRY_WARNING_DAYS,
        low_stock=settings.LOT_LOW_STOCK_VIALS,
    )


def lots_with_warnings(today: date) -> list[tuple[ProductLot, list[str]]]:
    """Every lot (one query), newest expiry last, with what the staff pages flag."""
    return [(lot, lot_warnings(lot, today)) for lot in ProductLot.objects.order_by("expiry_date")]


def lot_page(lot: ProductLot):
    """A lot's quarantine changes and write-offs, with who did them (two queries)."""
    changes = list(lot.status_changes.select_related("changed_by").order_by("changed_at", "id"))
    write_offs = list(lot.write_offs.select_related("recorded_by").order_by("recorded_at", "id"))
    return changes, write_offs


def sessions_planned_with_lot(lot: ProductLot, *, today: date, days: int):
    """The open sessions booked from `today` for `days` days that may have planned to use the
    lot. Sessions do not record a planned lot or product (the lot is recorded at
    completion), so this is every open session in the window: each must be checked."""
    return (
        TreatmentSession.objects.filter(
            status__in=OPEN_STATUSES,
            local_date__gte=today,
            local_date__lt=today + timedelta(days=days),
        )
        .select_related("patient", "clinician", "room", "site")
        .order_by("starts_at", "id")
    )


def clinicians():
    """Who a session can be booked with: active users in the Clinician role, and only them
    (an admin account, even a superuser, does not treat patients)."""
    return (
        User.objects.filter(is_active=True, groups__name=roles.CLINICIAN)
        .distinct()
        .order_by("last_name", "username")
    )


# A clinician as a choice reads, from plain values (`values_list(*CLINICIAN_NAME_FIELDS)`):
# their full name as Django's `get_full_name` writes it, else their username.
CLINICIAN_NAME_FIELDS = ("first_name", "last_name", "username")


def clinician_name(first_name: str, last_name: str, username: str) -> str:
    return f"{first_name} {last_name}".strip() or username


# The hours free slots are looked for in (clinic time), and their step.
SLOT_DAY_START = time(8, 0)
SLOT_DAY_END = time(18, 0)
SLOT_STEP = timedelta(minutes=15)


def free_slots(
    *,
    day: date,
    length: timedelta,
    clinician_id,
    room_id,
    site_tz: ZoneInfo,
    now: datetime,
    limit: int = 4,
) -> list[datetime]:
    """Start times on `day` (SLOT_DAY_START to SLOT_DAY_END on the site's clock, every
    SLOT_STEP, not before `now`) when both the clinician and the room are free for `length`:
    the hints a refused clash shows. One query. A hint, not a promise: the booking service
    still checks."""
    day_start = datetime.combine(day, SLOT_DAY_START, tzinfo=site_tz)
    day_end = datetime.combine(day, SLOT_DAY_END, tzinfo=site_tz)
    busy = list(
        overlapping(
            TreatmentSession.objects.filter(status__in=LIVE_STATUSES).filter(
                Q(clinician_id=clinician_id) | in_room(room_id)
            ),
            day_start,
            day_end,
        ).values_list("starts_at", "ends_at")
    )
    found: list[datetime] = []
    start = day_start
    while start + length <= day_end and len(found) < limit:
        end = start + length
        if start >= now and not any(b_start < end and b_end > start for b_start, b_end in busy):
            found.append(start)
        start += SLOT_STEP
    return found


# --- The schedule ---------------------------------------------------------------------------


SCHEDULE_PAGE_SIZE = 50  # sessions a page of the schedule shows (a day of a big clinic has 1,000+)

_STATUS_LABELS = dict(SessionStatus.choices)


def status_words(session: TreatmentSession) -> str:
    """What happened to the session, in the words staff use, with the time on its site's
    clock: "Checked in 09:42", "Completed 10:31", "No-show", "Scheduled"."""
    return _status_words(session.status, session.completed_at, session.checked_in_at, session.tz)


def _status_words(status: str, completed_at, checked_in_at, tz: ZoneInfo) -> str:
    if status == SessionStatus.COMPLETED and completed_at:
        return f"Completed {completed_at.astimezone(tz):%H:%M}"
    if status in OPEN_STATUSES and checked_in_at:
        return f"Checked in {checked_in_at.astimezone(tz):%H:%M}"
    return str(_STATUS_LABELS.get(status, status))


@dataclass(frozen=True)
class SessionActions:
    """Which of the day's buttons apply to a session now (the services refuse the rest)."""

    check_in: bool
    no_show: bool


def session_actions(session: TreatmentSession, *, today: date, now: datetime) -> SessionActions:
    """Check in on the session's day until the patient is checked in; no-show once the
    session has started and the patient has not been checked in."""
    waiting = session.is_open and not session.checked_in_at
    return SessionActions(
        check_in=waiting and session.local_date == today,
        no_show=waiting and session.starts_at <= now,
    )


class ScheduleRow(TypedDict):
    """One session of the schedule as plain values, its cells ready to print."""

    session_id: int
    patient_id: int
    local_date: date
    times: str  # session_span: on the session's site's clock, named
    patient: str
    clinician: str
    room: str
    status: str  # status_words
    confirmed: bool  # confirmed by the patient (SMS)
    muted: bool  # cancelled or a no-show
    flags: list[tuple[str, str]]  # (style, text), session_flags


@dataclass(frozen=True)
class ScheduleDay:
    day: date
    sessions: int  # the day's sessions on every page
    rows: list[ScheduleRow]  # those on this page


@dataclass(frozen=True)
class SchedulePage:
    """A page of the schedule: at most SCHEDULE_PAGE_SIZE sessions of the days asked for, in
    order of day and start; the days it shows (a day whose sessions are split shows on
    both pages; a day without sessions on the page its place in the order falls on)."""

    days: list[ScheduleDay]
    page: Page


_SCHEDULE_FIELDS = (
    "pk",
    "patient_id",
    "local_date",
    "starts_at",
    "ends_at",
    "status",
    "completed_at",
    "checked_in_at",
    "confirmed_by_patient_at",
    "nsaid_decided_at",
    "nsaid_decision_awaited",
    "patient__first_name",
    "patient__last_name",
    "patient__time_zone",
    "patient__takes_prescribed_nsaid",
    "clinician__first_name",
    "clinician__last_name",
    "clinician__username",
    "room__name",
    "site__time_zone",
    "protocol__nsaid_days_before",
    "protocol__nsaid_days_after",
    "open_side_effect",
    "change_requested",
    "previous_assessed",
)


def schedule(
    *,
    start: date,
    days: int,
    today: date,
    now: datetime,
    clinician_id=None,
    room_id=None,
    page=1,
    per_page: int | None = None,
) -> SchedulePage:
    """A page of the sessions per day from `start` (each on its site's calendar:
    `local_date`), with the flags staff must see, as plain values. Two queries (one with no
    session at all): the sessions per day, then the page's rows with their flags' facts.
    `page` as Paginator.get_page takes it (anything else: the first or last page).

    Both reads are statements compiled once a process (accounts.prepared), per shape of
    filter (and the rows' per slice): building and compiling the querysets (the rows' three
    subqueries) cost more CPU than the rest of the page."""
    filters = {
        name: value
        for name, value in (("clinician_id", clinician_id), ("room_id", room_id))
        if value
    }
    end = start + timedelta(days=days)
    counts = dict(_schedule_counts(tuple(filters)).tuples(start=start, end=end, **filters))
    total = sum(counts.values())
    per_page = per_page or SCHEDULE_PAGE_SIZE
    shown = Paginator(range(total), per_page).get_page(page)
    first = (shown.number - 1) * per_page
    last = min(first + per_page, total)  # rows [first, last) of the days' sessions
    rows: dict[date, list[ScheduleRow]] = defaultdict(list)
    if last > first:
        # A whole page's slice, whatever the total (fewer statements to compile), cut to
        # the rows counted (a session booked since then waits for the next request).
        read = _schedule_page(tuple(filters), first, first + per_page)
        values = read.tuples(start=start, end=end, **filters)[: last - first]
        for row in _schedule_rows(values, now=now):
            rows[row["local_date"]].append(row)
    shown_days = []
    offset = 0  # of the day's first session in the order
    for i in range(days):
        day = start + timedelta(days=i)
        n = counts.get(day, 0)
        on_page = (
            (offset < last and offset + n > first)
            if n
            else (first <= offset < last or (offset >= last and not shown.has_next()))
        )
        if on_page:
            shown_days.append(ScheduleDay(day, n, rows.get(day, [])))
        offset += n
    return SchedulePage(shown_days, shown)


def _schedule_sessions(start: date, end: date, clinician_id=None, room_id=None):
    """The sessions of the days from `start` to `end` (excluded), on their sites' calendars,
    of one clinician and one room where given."""
    sessions = TreatmentSession.objects.filter(local_date__gte=start, local_date__lt=end)
    if clinician_id is not None:
        sessions = sessions.filter(clinician_id=clinician_id)
    if room_id is not None:
        sessions = sessions.filter(room_id=room_id)
    return sessions


# The filters a schedule read may have: their arguments' types (accounts.prepared).
_SCHEDULE_FILTERS = {"clinician_id": int, "room_id": int}


@once_per_process
def _schedule_counts(filters: tuple[str, ...]) -> PreparedValues:
    """(day, sessions) of each day with sessions, for one shape of filter (`filters`: the
    names of those given)."""

    def build(**arguments):
        return (
            _schedule_sessions(**arguments)
            .order_by()
            .values_list("local_date")
            .annotate(n=Count("id"))
            .values_list("local_date", "n")
        )

    return PreparedValues(
        build, start=date, end=date, **{name: _SCHEDULE_FILTERS[name] for name in filters}
    )


def _schedule_page_values(first: int, stop: int, **arguments):
    """Rows `first` to `stop` - 1 of the sessions in the schedule's order, as
    _SCHEDULE_FIELDS. The page's ids first: the flags' subqueries then run for its rows
    only, not for every row an OFFSET skips (the 24th page of a 1,200-session day)."""
    order = ("local_date", "starts_at", "id")
    page_ids = _schedule_sessions(**arguments).order_by(*order).values("pk")[first:stop]
    return (
        TreatmentSession.objects.filter(pk__in=page_ids)
        .annotate(**_schedule_facts())
        .order_by(*order)
        .values_list(*_SCHEDULE_FIELDS)
    )


@lru_cache(maxsize=64)
def _schedule_page(filters: tuple[str, ...], first: int, stop: int) -> PreparedValues:
    """_schedule_page_values for one shape of filter and one slice: the ORM writes LIMIT
    and OFFSET into the SQL, so each page has its statement (the first is the one read)."""
    return PreparedValues(
        lambda **arguments: _schedule_page_values(first, stop, **arguments),
        start=date,
        end=date,
        **{name: _SCHEDULE_FILTERS[name] for name in filters},
    )


@once_per_process
def _schedule_facts() -> dict:
    """The flags' facts a schedule row reads, as expressions: built once a process (each
    query resolves its own copy)."""
    return {
        "open_side_effect": Exists(
            SideEffectReport.objects.filter(patient=OuterRef("patient"), resolved_at__isnull=True)
        ),
        "change_requested": Exists(
            ChangeRequest.objects.filter(session=OuterRef("pk"), handled_at__isnull=True)
        ),
        "previous_assessed": _previous_assessed(),
    }


def _schedule_rows(values, *, now: datetime) -> list[ScheduleRow]:
    """The rows' cells from _SCHEDULE_FIELDS: the texts session_span, status_words and
    session_flags give a session, without a model instance per row."""
    zones: dict[str, ZoneInfo] = {}
    span = span_maker()
    patient_days: dict[str, date] = {}
    result: list[ScheduleRow] = []
    for (
        pk,
        patient_id,
        local_date,
        starts_at,
        ends_at,
        status,
        completed_at,
        checked_in_at,
        confirmed_at,
        decided_at,
        decision_awaited,
        first_name,
        last_name,
        patient_zone,
        takes_nsaid,
        dr_first,
        dr_last,
        dr_username,
        room,
        site_zone,
        days_before,
        days_after,
        open_side_effect,
        change_requested,
        previous_assessed,
    ) in values:
        tz = zones.get(site_zone) or zones.setdefault(site_zone, ZoneInfo(site_zone))
        is_open = status in OPEN_STATUSES
        window = patient_today = None
        if is_open:
            patient_today = patient_days.get(patient_zone)
            if patient_today is None:
                patient_today = patient_days.setdefault(
                    patient_zone, rules.local_day(now, ZoneInfo(patient_zone))
                )
            window = rules.nsaid_window_of(
                rules.local_day(starts_at, ZoneInfo(patient_zone)), days_before, days_after
            )
        result.append(
            {
                "session_id": pk,
                "patient_id": patient_id,
                "local_date": local_date,
                "times": span(starts_at, ends_at, tz),
                "patient": f"{first_name} {last_name}",
                "clinician": f"{dr_first} {dr_last}".strip() or dr_username,
                "room": room,
                "status": _status_words(status, completed_at, checked_in_at, tz),
                "confirmed": bool(confirmed_at),
                "muted": status in (SessionStatus.CANCELLED, SessionStatus.NO_SHOW),
                "flags": _flags(
                    open_side_effect=open_side_effect,
                    change_requested=change_requested,
                    window=window,
                    patient_today=patient_today,
                    review_pending=nsaid_review_pending(takes_nsaid, decided_at),
                    decision_awaited=decision_awaited,
                    missing_assessment=previous_assessed is False,
                    started=starts_at <= now,
                ),
            }
        )
    return result


def session_flags(session, *, today: date, now: datetime, missing_assessment: bool):
    is_open = session.is_open
    return _flags(
        open_side_effect=getattr(session, "open_side_effect", False),
        change_requested=getattr(session, "change_requested", False),
        window=session.nsaid_window() if is_open else None,
        patient_today=rules.local_day(now, session.patient.tz) if is_open else None,
        review_pending=is_open and session.nsaid_review_pending,
        decision_awaited=session.nsaid_decision_awaited,
        missing_assessment=missing_assessment,
        started=session.starts_at <= now,
    )


def _flags(
    *,
    open_side_effect: bool,
    change_requested: bool,
    window: rules.NsaidWindow | None,
    patient_today: date | None,
    review_pending: bool,
    decision_awaited: bool,
    missing_assessment: bool,
    started: bool,
) -> list[tuple[str, str]]:
    """The flags of a session; `window` and `patient_today` only for an open session (the
    others have only the first two)."""
    flags = []
    if open_side_effect:
        flags.append(("danger", "Side effect reported by the patient"))
    if change_requested:
        flags.append(("info", "Patient asks to move or cancel"))
    if window is None or patient_today is None:
        return flags
    if window.contains(patient_today):
        flags.append(("warning", f"In NSAID window (day {window.day_number(patient_today)})"))
    if review_pending:
        flags.append(
            ("danger", "Waiting for the clinician's NSAID decision")
            if decision_awaited
            else ("danger", "Prescribed NSAID: clinician decision needed")
        )
    if missing_assessment:
        flags.append(("danger", "Repeat session without 6-month assessment"))
    if started:
        flags.append(("secondary", "Lot not yet recorded"))
    return flags


# --- The patient page -----------------------------------------------------------------------


@dataclass
class PatientPage:
    patient: Patient
    sessions: list[TreatmentSession]
    follow_ups: list[FollowUp]
    eligibility: NextSessionEligibility
    current_window: rules.NsaidWindow | None
    current_window_session: TreatmentSession | None
    progress: list[FollowUp]
    missing_assessment: set[int]
    side_effect_reports: list[SideEffectReport]
    change_requests: list[ChangeRequest]


# What the patient page does not show of a staff member (it shows their name or username).
_USER_REST = (
    "password",
    "last_login",
    "is_superuser",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)


def _people_deferred(*relations: str) -> list[str]:
    return [f"{relation}__{field}" for relation in relations for field in _USER_REST]


def _page_sessions(patient_id):
    # Not joined: who cancelled or recorded a no-show (`_SESSION_PEOPLE`), two more outer
    # joins of auth_user that tripled the time PostgreSQL spent planning the statement
    # (1.5 -> 0.57 ms at 1,000 patients, against 0.2 ms running it).
    return (
        TreatmentSession.objects.filter(patient_id=patient_id)
        .select_related("clinician", "room", "site", "protocol")
        .defer(*_people_deferred("clinician"))
        .annotate(previous_assessed=_previous_assessed())
        .order_by("-starts_at")
    )


_SESSION_PEOPLE = ("cancelled_by", "no_show_recorded_by")


def _attach_session_people(sessions: list[TreatmentSession]) -> None:
    """Each session's `cancelled_by` and `no_show_recorded_by`, read in one query when any
    session has one (most patients' sessions have none: no query)."""
    ids = {getattr(s, f"{name}_id") for s in sessions for name in _SESSION_PEOPLE} - {None}
    if not ids:
        return
    people = User.objects.defer(*_USER_REST).in_bulk(ids)
    for session in sessions:
        for name in _SESSION_PEOPLE:
            if (pk := getattr(session, f"{name}_id")) is not None:
                setattr(session, name, people[pk])


def _page_follow_ups(patient_id):
    # In FollowUp's own order (due date, id), as a prefetch of `follow_ups` reads them.
    return (
        FollowUp.objects.filter(session__patient_id=patient_id)
        .select_related("seen_by", "recorded_by")
        .defer(*_people_deferred("seen_by", "recorded_by"))
    )


def _page_vials(patient_id):
    return SessionVial.objects.filter(session__patient_id=patient_id).select_related("lot")


def _page_photos(patient_id):
    return FollowUpPhoto.objects.filter(follow_up__session__patient_id=patient_id)


def _page_side_effects(patient_id):
    """The patient's open reports, every one, newest first (SideEffectReport's own order):
    the page lists those a clinician has still to resolve. (It read the newest 20, resolved
    ones too, and skipped the resolved: an open report behind 20 resolved ones was never
    shown.)"""
    return SideEffectReport.objects.filter(patient_id=patient_id, resolved_at__isnull=True)


def _page_change_requests(patient_id):
    return ChangeRequest.objects.filter(
        patient_id=patient_id, handled_at__isnull=True
    ).select_related("session__site")


# The patient page's reads, compiled once a process (accounts.prepared): building and
# compiling them through the ORM (with the prefetches' queries) was a third of the page's CPU.
# Each reads the patient's rows of one table; the page puts them together as the ORM's
# prefetch_related would (`prefetched`).
_PAGE_SESSIONS = PreparedGet(_page_sessions)
_PAGE_FOLLOW_UPS = PreparedGet(_page_follow_ups)
_PAGE_VIALS = PreparedGet(_page_vials)
_PAGE_PHOTOS = PreparedGet(_page_photos)
_PAGE_SIDE_EFFECTS = PreparedGet(_page_side_effects)
_PAGE_CHANGE_REQUESTS = PreparedGet(_page_change_requests)


def patient_page(
    patient: Patient, *, today: date, now: datetime, photos: bool = True
) -> PatientPage:
    """Everything the staff's patient page shows of the patient's treatment; the follow-ups'
    photos only with `photos` (a reader who may see them)."""
    sessions: list[TreatmentSession] = _PAGE_SESSIONS.all(patient.pk)
    _attach_session_people(sessions)
    if sessions:  # as prefetch_related: nothing more to read for a patient without any
        all_follow_ups = _PAGE_FOLLOW_UPS.all(patient.pk)
        prefetched(sessions, "follow_ups", all_follow_ups, "session_id")
        prefetched(sessions, "vials_used", _PAGE_VIALS.all(patient.pk), "session_id")
        if photos and all_follow_ups:
            prefetched(all_follow_ups, "photos", _PAGE_PHOTOS.all(patient.pk), "follow_up_id")
    for session in sessions:
        session.patient = patient  # already loaded: no query per session
    follow_ups = sorted(
        (f for s in sessions for f in s.follow_ups.all()), key=lambda f: (f.due_date, f.pk)
    )
    patient_today = rules.local_day(now, patient.tz)
    current = next(
        (
            s
            for s in sessions
            if s.status in LIVE_STATUSES and s.nsaid_window().contains(patient_today)
        ),
        None,
    )
    return PatientPage(
        patient=patient,
        sessions=sessions,
        follow_ups=follow_ups,
        eligibility=eligibility_from(sessions, today=today),
        current_window=current.nsaid_window() if current else None,
        current_window_session=current,
        progress=[
            f
            for f in follow_ups
            if f.status == FollowUpStatus.DONE
            and (f.hair_density_per_cm2 is not None or f.patient_rating is not None)
        ],
        # Read with the sessions (their previous_assessed annotation): no query of its own.
        missing_assessment={
            s.pk
            for s in sessions
            if s.status in OPEN_STATUSES and getattr(s, "previous_assessed", None) is False
        },
        side_effect_reports=_PAGE_SIDE_EFFECTS.all(patient.pk),
        change_requests=_PAGE_CHANGE_REQUESTS.all(patient.pk),
    )


def open_side_effect_reports(limit: int = 20):
    """Side effects patients reported that no one has dealt with yet, newest first (plain
    values: the patient's id and names, when, what). Read on every schedule page: the
    statement is compiled once a process for each limit (accounts.prepared)."""
    return _open_side_effects(limit).rows()


@lru_cache(maxsize=4)
def _open_side_effects(limit: int) -> PreparedValues:
    return PreparedValues(lambda: _open_side_effects_values(limit))


def _open_side_effects_values(limit: int):
    return (
        SideEffectReport.objects.filter(resolved_at__isnull=True)
        .order_by("-reported_at")
        .values(
            "patient_id", "patient__first_name", "patient__last_name", "reported_at", "description"
        )[:limit]
    )


# --- Follow-up review (clinic admins) -------------------------------------------------------

# "due" (due today or later) is what "upcoming" was called before "Due now" existed.
REVIEW_STATUSES = ("overdue", "due_now", "upcoming", "due", "week", "missed", "done", "all")


def follow_up_review(
    *,
    today: date,
    status: str = "overdue",
    kind: str = "",
    clinician_id=None,
    date_from: date | None = None,
    date_to: date | None = None,
):
    """The follow-ups an admin reviews, filtered; ordered by due date.

    overdue: planned, its due date passed; due_now: planned, today inside its window (the
    protocol's days either side of the due date); upcoming: planned, its window not begun;
    week: planned, due from today to Sunday; missed, done, all."""
    return _review(
        today=today,
        week_end=_week_end(today),
        status=status,
        kind=kind,
        clinician_id=clinician_id,
        date_from=date_from,
        date_to=date_to,
    )


def _review(
    *,
    today: date,
    week_end: date | None = None,
    status: str,
    kind: str,
    clinician_id=None,
    date_from: date | None = None,
    date_to: date | None = None,
):
    """follow_up_review's queryset, from arguments that each reach its SQL unchanged (the
    week's end computed by the caller): the form accounts.prepared compiles once."""
    qs = FollowUp.objects.select_related(
        "session__patient", "session__clinician", "seen_by"
    ).annotate(
        overdue=ExpressionWrapper(overdue_on(today), output_field=BooleanField()),
        may_be_marked_missed=ExpressionWrapper(due_by(today), output_field=BooleanField()),
        may_be_recorded=ExpressionWrapper(
            Q(status=FollowUpStatus.PLANNED, due_from__lte=today), output_field=BooleanField()
        ),
    )
    if status == "due":
        qs = qs.upcoming(today)
    elif status == "due_now":
        qs = qs.due_now(today)
    elif status == "upcoming":
        qs = qs.later(today)
    elif status == "week":
        qs = qs.upcoming(today).filter(due_date__lte=week_end)
    elif status == "overdue":
        qs = qs.overdue(today)
    elif status == "missed":
        qs = qs.filter(status=FollowUpStatus.MISSED)
    elif status == "done":
        qs = qs.filter(status=FollowUpStatus.DONE)
    if kind:
        qs = qs.filter(kind=kind)
    if clinician_id:
        qs = qs.filter(session__clinician_id=clinician_id)
    if date_from:
        qs = qs.filter(due_date__gte=date_from)
    if date_to:
        qs = qs.filter(due_date__lte=date_to)
    return qs.order_by("due_date", "id")


REVIEW_PAGE_SIZE = 50  # follow-ups a page of the review shows
# What the review's table shows of a follow-up (frontdesk.views.follow_ups writes the rows).
REVIEW_ROW_FIELDS = (
    "pk",
    "kind",
    "status",
    "due_date",
    "due_from",
    "seen_on",
    "session__local_date",
    "session__patient_id",
    "session__patient__first_name",
    "session__patient__last_name",
    *(f"session__clinician__{name}" for name in CLINICIAN_NAME_FIELDS),
    "overdue",
    "may_be_marked_missed",
    "may_be_recorded",
)


def _review_values(**arguments):
    return _review(**arguments).values(*REVIEW_ROW_FIELDS)


class ReviewRows:
    """follow_up_review's rows as plain values (REVIEW_ROW_FIELDS), `read(start, stop)` for
    ui.pagination.window_of: each page read by a statement compiled once a process for each
    shape of filter and slice (accounts.prepared.sliced): building and compiling the
    queryset, and a model instance a row, cost more CPU than the rest of the page's reads."""

    def __init__(self, *, today: date, status: str, kind: str, clinician_id, date_from, date_to):
        self._status = status if status in REVIEW_STATUSES else "all"  # an unknown one: all
        self._kind = kind
        self._arguments = {
            "today": today,
            "week_end": _week_end(today) if self._status == "week" else None,
            "clinician_id": clinician_id or None,
            "date_from": date_from or None,
            "date_to": date_to or None,
        }

    def read(self, start: int, stop: int) -> list[dict]:
        """Rows `start` to `stop` - 1 in the review's order."""
        given = {name: value for name, value in self._arguments.items() if value is not None}
        if self._kind in _REVIEW_KINDS:  # always (the form's choices): a bounded set of shapes
            return _review_slice(self._status, self._kind, tuple(given), start, stop).rows(**given)
        values = _review_values(status=self._status, kind=self._kind, **given)
        return list(values[start:stop])


_REVIEW_KINDS = {"", *FollowUpKind.values}
_REVIEW_ARGUMENT_KINDS = {
    "today": date,
    "week_end": date,
    "clinician_id": int,
    "date_from": date,
    "date_to": date,
}


def _review_slice(
    status: str, kind: str, given: tuple[str, ...], start: int, stop: int
) -> PreparedValues:
    """Rows `start` to `stop` - 1 of the review for one shape of filter (its status, kind,
    and which of the other filters are given: some 8 statuses x 6 kinds x 8), compiled once
    a process for each slice (accounts.prepared.sliced, as the other lists' pages)."""
    kinds = {name: _REVIEW_ARGUMENT_KINDS[name] for name in given}
    return sliced(_review_build(status, kind), start, stop, **kinds)


@once_per_process
def _review_build(status: str, kind: str) -> Callable[..., Any]:
    """The review's values for a status and kind, as a function of the other filters: one
    function a shape, so that `sliced` keeps one statement for each."""

    def build(**arguments):
        return _review_values(status=status, kind=kind, **arguments)

    return build


def _week_end(today: date) -> date:
    """The Sunday of today's week."""
    return today + timedelta(days=6 - today.weekday())


# The review's counts stop counting here: past it a card says "more than 10,000" (at
# 1,000,000 patients some 800,000 follow-ups are overdue; counting them took ~100 ms).
COUNT_CAP = 10_000
# The 90-day adherence reads every follow-up due in those days (some 450,000 at 1,000,000
# patients, 70-100 ms): it is counted exactly, off the request path, by beat every
# settings.FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS (treatments.tasks), and kept in the cache for
# three of those, so a beat or two missed (a worker restarting) never leaves a page to count
# it. The card says when it was counted.
ADHERENCE_KEPT_BEATS = 3
# The cached value's shape, bumped when it changes: during a rolling deploy a node never reads
# a value the other release wrote (version 1: the counts without the time they were made).
ADHERENCE_CACHE_VERSION = 2


def follow_up_counts(*, today: date, now: datetime) -> dict:
    """Overdue now, due now (in their window), due this week (to Sunday), each counted up
    to COUNT_CAP + 1 (`capped`: which ones passed the cap); adherence over the last 90 days
    (follow_up_adherence: normally from the cache).

    The three counts are one statement, each an index range read with LIMIT (never more
    than COUNT_CAP + 1 index entries): overdue and this week on follow_up_planned_due_idx,
    due now on follow_up_planned_window_idx from the earliest its window can open (a window
    is at most twice the protocol's widest).
    """
    week_end = _week_end(today)
    since = today - timedelta(days=2 * rules.MAX_FOLLOW_UP_WINDOW_DAYS)
    ranges = {
        "overdue": _COUNTED["overdue"].sql_with_params(today=today),
        "due_now": _COUNTED["due_now"].sql_with_params(today=today, since=since),
        "due_this_week": _COUNTED["due_this_week"].sql_with_params(today=today, week_end=week_end),
    }
    counts = _count(ranges)
    counts["capped"] = {name for name in ranges if counts[name] > COUNT_CAP}
    counts["cap"] = COUNT_CAP
    counts.update(follow_up_adherence(today=today, now=now))
    return counts


class Adherence(TypedDict):
    """The 90-day adherence as cached: its percentage (None: nothing was due), the counts it
    comes from and when it was counted."""

    adherence: int | None
    recent_done: int
    recent_due: int
    adherence_counted_at: datetime


def follow_up_adherence(*, today: date, now: datetime) -> Adherence:
    """`today`'s adherence as the beat task last counted it (recount_follow_up_adherence).
    Only when the cache has none for `today` (first start, Redis flushed, a new day before
    the next beat) is it counted here, once, and kept for the pages after this one; with the
    cache down, counted for each page (as before it was kept)."""
    key = _adherence_key(today)
    try:
        kept = cache.get(key, version=ADHERENCE_CACHE_VERSION)
    except RedisError:
        return _count_adherence(today=today, now=now)
    if kept is None:
        kept = _count_adherence(today=today, now=now)
        # add, not set: a recount the task stored meanwhile is newer than this one.
        with suppress(RedisError):
            cache.add(key, kept, _adherence_kept_seconds(), version=ADHERENCE_CACHE_VERSION)
    return kept


def recount_follow_up_adherence(*, today: date, now: datetime) -> Adherence:
    """Count `today`'s adherence and keep it for the review pages (beat: treatments.tasks),
    replacing what was kept. `today` names the cache key: a new day never reads yesterday's
    figure."""
    adherence = _count_adherence(today=today, now=now)
    cache.set(
        _adherence_key(today),
        adherence,
        _adherence_kept_seconds(),
        version=ADHERENCE_CACHE_VERSION,
    )
    return adherence


def _adherence_key(today: date) -> str:
    return f"follow-up-adherence:{today.isoformat()}"


def _adherence_kept_seconds() -> int:
    return ADHERENCE_KEPT_BEATS * settings.FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS


def _count_adherence(*, today: date, now: datetime) -> Adherence:
    """Of the follow-ups due in the 90 days before today, how many were done and how many
    were not cancelled: one statement, index-only on follow_up_due_status_idx."""
    since = today - timedelta(days=90)
    recent = FollowUp.objects.order_by().filter(due_date__gte=since, due_date__lt=today)
    sql, params = recent.values("status").query.sql_with_params()
    with connection.cursor() as cursor:
        done_and_due = "COUNT(*) FILTER (WHERE status = %s), COUNT(*) FILTER (WHERE status <> %s)"
        cursor.execute(
            f"SELECT {done_and_due} FROM ({sql}) AS recent",  # noqa: S608 - the ORM's SQL
            [FollowUpStatus.DONE, FollowUpStatus.CANCELLED, *params],
        )
        done, due = cursor.fetchone()
    return {
        "adherence": round(100 * done / due) if due else None,
        "recent_done": done,
        "recent_due": due,
        "adherence_counted_at": now,
    }


def _capped(planned):
    """No ORDER BY: each count stops at its LIMIT."""
    return planned.order_by().values("due_date")[: COUNT_CAP + 1]


# follow_up_counts' ranges, compiled once a process (accounts.prepared): building and
# compiling the three querysets cost more than PostgreSQL's counting.
_COUNTED = {
    "overdue": PreparedValues(lambda today: _capped(FollowUp.objects.overdue(today)), today=date),
    "due_now": PreparedValues(
        lambda today, since: _capped(FollowUp.objects.due_now(today).filter(due_from__gte=since)),
        today=date,
        since=date,
    ),
    "due_this_week": PreparedValues(
        lambda today, week_end: _capped(
            FollowUp.objects.upcoming(today).filter(due_date__lte=week_end)
        ),
        today=date,
        week_end=date,
    ),
}


def _count(ranges: dict) -> dict:
    """One statement: COUNT(*) of each of `ranges` (its SQL and parameters, up to
    COUNT_CAP + 1 rows)."""
    columns, params = [], []
    for sql, part in ranges.values():
        columns.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped)")  # noqa: S608 - the ORM's SQL
        params.extend(part)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        return dict(zip(ranges, cursor.fetchone(), strict=True))


# --- Before/after photo comparison -------------------------------------------------------


@dataclass
class PhotoVisit:
    """One recorded visit (the day-0 baseline or a follow-up) and its photo of each view."""

    follow_up: FollowUp
    by_view: dict[str, FollowUpPhoto]  # the newest photo of each view (an amendment's wins)

    @property
    def day(self) -> date:
        return self.follow_up.seen_on or self.follow_up.due_date

    @property
    def label(self) -> str:
        count = len(self.by_view)
        return (
            f"{self.follow_up.get_kind_display()}, {self.day.day} {self.day:%b %Y} "
            f"({count} of {len(PhotoView.choices)} views)"
        )


def _recorded_visits(patient_id, *, shared_only: bool):
    rows = FollowUp.objects.filter(session__patient_id=patient_id, status=FollowUpStatus.DONE)
    return rows.filter(shared_with_patient=True) if shared_only else rows


# The visits and their photos, compiled once a process (accounts.prepared) for the staff
# and for the portal: the photos of every recorded visit of the patient, in the order
# prefetch_related read them (by upload, then id), not `follow_up_id IN (...)` a visit.
_VISITS = {
    shared: (
        PreparedGet(
            lambda pk, shared=shared: _recorded_visits(pk, shared_only=shared).order_by(
                "due_date", "id"
            )
        ),
        PreparedGet(
            lambda pk, shared=shared: FollowUpPhoto.objects.filter(
                follow_up__in=_recorded_visits(pk, shared_only=shared).values("id")
            ).order_by("uploaded_at", "id")
        ),
    )
    for shared in (False, True)
}


def photo_visits(patient: Patient, *, shared_only: bool) -> list[PhotoVisit]:
    """The patient's recorded visits, oldest first, with their photos (two queries; one
    when there is no visit).

    `shared_only`: what the portal may show (the visits the clinic shared with the patient).
    """
    visits, photos = _VISITS[shared_only]
    rows = visits.all(patient.pk)
    if rows:
        prefetched(rows, "photos", photos.all(patient.pk), "follow_up_id")
    return [PhotoVisit(f, {p.view: p for p in f.photos.all()}) for f in rows]


# --- The waitlist (staff) -----------------------------------------------------------------


def waiting_at(site, *, now: datetime):
    """Who waits at `site`, in the order they joined (the order offers go out in), each with
    their live offer if any (`live_offers`, a list) and whether a session is booked for them
    from today on (`has_session`: such a patient is passed over). For pagination."""
    return (
        WaitlistEntry.objects.filter(site=site, status=WaitlistStatus.WAITING)
        .select_related("patient")
        .annotate(
            has_session=Exists(
                TreatmentSession.objects.filter(
                    patient=OuterRef("patient"), status__in=OPEN_STATUSES, starts_at__gte=now
                )
            )
        )
        .prefetch_related(
            Prefetch(
                "offers",
                queryset=WaitlistOffer.objects.filter(status=OfferStatus.OFFERED).select_related(
                    "freed_slot"
                ),
                to_attr="live_offers",
            )
        )
        .order_by("created_at", "id")
    )


def open_freed_slots(site, *, limit: int = 50):
    """The freed times at `site` still being offered, soonest first, with their live offer."""
    return list(
        FreedSlot.objects.filter(site=site, status=FreedSlotStatus.OPEN)
        .select_related("clinician", "room")
        .prefetch_related(
            Prefetch(
                "offers",
                queryset=WaitlistOffer.objects.filter(status=OfferStatus.OFFERED).select_related(
                    "patient"
                ),
                to_attr="live_offers",
            )
        )
        .order_by("starts_at", "id")[:limit]
    )


# The staff waitlist's rows as values (frontdesk.views.waitlist writes them), from statements
# compiled once a process: building and compiling waiting_at and open_freed_slots, with their
# prefetches, cost the page more CPU than its rows.
WAITING_SHOWN = (
    "id",
    "patient_id",
    "patient__first_name",
    "patient__last_name",
    "created_at",
    "not_after",
    "has_session",
)
FREED_SHOWN = (
    "id",
    "starts_at",
    "clinician__first_name",
    "clinician__last_name",
    "clinician__username",
    "room__name",
)


def waiting_rows(site_id: int, *, now: datetime, start: int, stop: int) -> list[dict[str, Any]]:
    """Rows `start` to `stop` - 1 of waiting_at (WAITING_SHOWN), each with "live_offers":
    the starts of its offers' freed times, as the prefetch orders them."""
    rows = _waiting_page(start, stop).rows(site_id=site_id, now=now)
    by_entry: dict[int, list] = {row["id"]: [] for row in rows}
    for offer in values_by_ids(_live_offers_of_entries, list(by_entry)):
        by_entry[offer["entry_id"]].append(offer["freed_slot__starts_at"])
    for row in rows:
        row["live_offers"] = by_entry[row["id"]]
    return rows


def _waiting_page(start: int, stop: int) -> PreparedValues:
    """A page of waiting_at (accounts.prepared.sliced: a statement a page)."""
    return sliced(_waiting_values, start, stop, site_id=int, now=datetime)


def _waiting_values(site_id: int, now: datetime):
    return waiting_at(site_id, now=now).prefetch_related(None).values(*WAITING_SHOWN)


def _live_offers_of_entries(ids: list[int]):
    return WaitlistOffer.objects.filter(status=OfferStatus.OFFERED, entry_id__in=ids).values(
        "entry_id", "freed_slot__starts_at"
    )


def freed_rows(site_id: int) -> list[dict[str, Any]]:
    """open_freed_slots as values (FREED_SHOWN), each with "live_offers": its offers'
    patient_id, patient__first_name, patient__last_name and expires_at."""
    rows = _FREED.rows(site_id=site_id)
    by_slot: dict[int, list] = {row["id"]: [] for row in rows}
    for offer in values_by_ids(_live_offers_of_slots, list(by_slot)):
        by_slot[offer["freed_slot_id"]].append(offer)
    for row in rows:
        row["live_offers"] = by_slot[row["id"]]
    return rows


def _open_freed_values(site_id: int):
    return (
        FreedSlot.objects.filter(site_id=site_id, status=FreedSlotStatus.OPEN)
        .order_by("starts_at", "id")
        .values(*FREED_SHOWN)[:50]
    )


_FREED = PreparedValues(_open_freed_values, site_id=int)


def _live_offers_of_slots(ids: list[int]):
    return WaitlistOffer.objects.filter(status=OfferStatus.OFFERED, freed_slot_id__in=ids).values(
        "freed_slot_id", "patient_id", "patient__first_name", "patient__last_name", "expires_at"
    )
