"""What the patient's pages show: their own data only, in their own time zone."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch

from accounts.prepared import PreparedGet, PreparedValues
from consents.selectors import has_photo_consent
from patients.models import Patient
from sites.models import Site
from treatments import rules
from treatments.models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    ChangeRequest,
    FollowUp,
    FollowUpPhoto,
    FollowUpStatus,
    OfferStatus,
    SessionStatus,
    TreatmentSession,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from treatments.selectors import eligibility_from
from treatments.slots import Slot, free_slots


@dataclass
class Prep:
    """The dated prep checklist of an upcoming session, on the patient's calendar."""

    session: TreatmentSession
    day: date
    window: rules.NsaidWindow
    days_to_go: int
    day_before: date


@dataclass
class Home:
    today: date
    upcoming: TreatmentSession | None
    prep: Prep | None
    window: rules.NsaidWindow | None  # the NSAID window the patient is in today, if any
    window_day: int | None
    last_completed: TreatmentSession | None
    requested: set[int]
    next_follow_up: FollowUp | None  # the next planned check, due today or later
    # With no session booked and the gap rule still running: the first day a new session may
    # take place (clinic calendar). None when nothing holds a booking back.
    book_again_from: date | None


def _live_sessions(patient_id: int):
    return (
        TreatmentSession.objects.filter(patient=patient_id, status__in=LIVE_STATUSES)
        .select_related("protocol", "site")
        .order_by("starts_at")
    )


# The home page's reads (and the aftercare page's), compiled once a process: building and
# compiling the querysets cost the page more CPU than PostgreSQL spent answering them.
_LIVE_SESSIONS = PreparedGet(_live_sessions)


def _sessions(patient: Patient) -> list[TreatmentSession]:
    sessions = _LIVE_SESSIONS.all(patient.pk)
    for session in sessions:
        session.patient = patient  # no query per session for the patient's time zone
    return sessions


NEXT_FOLLOW_UP_SHOWN = ("id", "kind", "due_date")


def _next_follow_up_values(patient_id: int, today: date):
    return (
        FollowUp.objects.filter(
            session__patient=patient_id, status=FollowUpStatus.PLANNED, due_date__gte=today
        )
        .order_by("due_date", "id")
        .values(*NEXT_FOLLOW_UP_SHOWN)[:1]
    )


_NEXT_FOLLOW_UP = PreparedValues(_next_follow_up_values, patient_id=int, today=date)


def _next_follow_up(patient: Patient, today: date) -> FollowUp | None:
    """The next planned check, as `.only(*NEXT_FOLLOW_UP_SHOWN).first()` reads it: what the
    home page shows of it (its other fields, deferred, are read if asked for)."""
    found = _NEXT_FOLLOW_UP.tuples(patient_id=patient.pk, today=today)
    return FollowUp.from_db("default", NEXT_FOLLOW_UP_SHOWN, found[0]) if found else None


def home(patient: Patient, *, now: datetime, requested: set[int] | None = None) -> Home:
    """`requested`: the sessions with an open change request, if the caller read them."""
    today = rules.local_day(now, patient.tz)
    sessions = _sessions(patient)
    upcoming = next((s for s in sessions if s.status in OPEN_STATUSES and s.ends_at >= now), None)
    prep = None
    if upcoming:
        day = upcoming.patient_day()
        prep = Prep(
            upcoming, day, upcoming.nsaid_window(), (day - today).days, day - timedelta(days=1)
        )
    # The window today falls in, if any (each session's computed once).
    window = next((w for s in sessions if (w := s.nsaid_window()).contains(today)), None)
    completed = [s for s in sessions if s.status == SessionStatus.COMPLETED]
    if requested is None:
        requested = set(
            ChangeRequest.objects.filter(patient=patient, handled_at__isnull=True).values_list(
                "session_id", flat=True
            )
        )
    next_follow_up = _next_follow_up(patient, today)
    book_again_from = None
    if upcoming is None and sessions:
        # The gap rule counts on the clinic's calendar, where the session takes place.
        clinic_today = rules.local_day(now, ZoneInfo(settings.CLINIC_TIME_ZONE))
        earliest = eligibility_from(sessions, today=clinic_today).earliest_day
        book_again_from = earliest if earliest > clinic_today else None
    return Home(
        today=today,
        upcoming=upcoming,
        prep=prep,
        window=window,
        window_day=window.day_number(today) if window else None,
        last_completed=completed[-1] if completed else None,
        requested=requested,
        next_follow_up=next_follow_up,
        book_again_from=book_again_from,
    )


@dataclass
class FollowUps:
    upcoming: list[FollowUp]
    shared: list[FollowUp]  # results the clinic shared, oldest first
    photos_shown: bool  # the patient's photo consent stands (withdrawn: no photos shown)


def follow_ups(patient: Patient, *, now: datetime) -> FollowUps:
    today = rules.local_day(now, patient.tz)
    photos_shown = has_photo_consent(patient)
    rows = FollowUp.objects.filter(session__patient=patient).exclude(
        status=FollowUpStatus.CANCELLED
    )
    if photos_shown:
        rows = rows.prefetch_related(
            Prefetch("photos", queryset=FollowUpPhoto.objects.order_by("view"))
        )
    listed = list(rows.select_related("session").order_by("due_date", "id"))
    return FollowUps(
        upcoming=[f for f in listed if f.is_upcoming(today)],
        shared=[f for f in listed if f.status == FollowUpStatus.DONE and f.shared_with_patient],
        photos_shown=photos_shown,
    )


def calendar_items(patient: Patient):
    """Live sessions and planned follow-ups, for the calendar feed."""
    sessions = _sessions(patient)
    planned = list(
        FollowUp.objects.filter(session__patient=patient, status=FollowUpStatus.PLANNED)
        .select_related("session__site")
        .order_by("due_date")
    )
    return sessions, planned


@dataclass
class BookableWeek:
    """A week of the free slots the finder offers the patient at a site, day by day."""

    first_day: date
    last_day: date
    days: list[tuple[date, list[Slot]]]  # only days with a free slot

    @property
    def empty(self) -> bool:
        return not self.days


def bookable_week(
    patient: Patient,
    *,
    site: Site,
    week: int,
    now: datetime,
    moving: TreatmentSession | None = None,
) -> BookableWeek:
    """Week `week` (0: the seven days from today on the site's clock) of free slots."""
    first = rules.local_day(now, site.tz) + timedelta(days=7 * week)
    last = first + timedelta(days=6)
    by_day: dict[date, list[Slot]] = {}
    for slot in free_slots(
        patient=patient, site=site, start_day=first, end_day=last, now=now, ignoring=moving
    ):
        by_day.setdefault(slot.local_start.date(), []).append(slot)
    return BookableWeek(first, last, sorted(by_day.items()))


# --- The waitlist -------------------------------------------------------------------------


@dataclass
class WaitlistPage:
    """The patient's place on the waitlist, their open offers and the first free time."""

    entry: WaitlistEntry | None
    offers: list[WaitlistOffer]
    first_free: Slot | None
    has_session: bool


def _first(queryset):
    """The queryset as `.first()` reads it: in its order, else by id."""
    return queryset if queryset.ordered else queryset.order_by("pk")


# The waitlist page's reads, compiled once a process (accounts.prepared): building them took
# the ORM more CPU than the page's slot search.
_WAITING_ENTRY = PreparedGet(
    lambda patient_id: _first(
        WaitlistEntry.objects.filter(
            patient_id=patient_id, status=WaitlistStatus.WAITING
        ).select_related("site")
    )
)
_OFFERED = PreparedGet(
    lambda patient_id: WaitlistOffer.objects.filter(
        patient_id=patient_id, status=OfferStatus.OFFERED
    ).select_related("freed_slot__site")
)
_UPCOMING_SESSION = PreparedValues(
    lambda patient_id, now: TreatmentSession.objects.filter(
        patient_id=patient_id, status__in=OPEN_STATUSES, starts_at__gte=now
    ).values("pk")[:1],
    patient_id=int,
    now=datetime,
)


def waitlist_page(patient: Patient, *, site: Site | None, now: datetime) -> WaitlistPage:
    entry = _WAITING_ENTRY.get(patient.pk)
    # The open offers: a patient has few offered ones, their expiry asked here.
    offers = [o for o in _OFFERED.all(patient.pk) if o.expires_at > now]
    has_session = bool(_UPCOMING_SESSION.tuples(patient_id=patient.pk, now=now))
    first_free = None
    site = entry.site if entry else site
    if site is not None and not has_session:
        today = rules.local_day(now, site.tz)
        found = free_slots(
            patient=patient,
            site=site,
            start_day=today,
            end_day=today + timedelta(weeks=settings.SELF_BOOKING_WEEKS) - timedelta(days=1),
            now=now,
            limit=1,
        )
        first_free = found[0] if found else None
    return WaitlistPage(entry, offers, first_free, has_session)


def next_free_slots(patient: Patient, *, site: Site, now: datetime, count: int = 5) -> list[Slot]:
    """The next free times the finder offers the patient at `site` (after an offer's time
    was gone), within the self-booking range."""
    today = rules.local_day(now, site.tz)
    return free_slots(
        patient=patient,
        site=site,
        start_day=today,
        end_day=today + timedelta(weeks=settings.SELF_BOOKING_WEEKS) - timedelta(days=1),
        now=now,
        limit=count,
    )
