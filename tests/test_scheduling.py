"""Sites, opening hours and availability, and the slot finder (treatments.slots)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sites.models import ClinicianAbsence, OpeningHours, Site, SiteClosure, WorkingHours
from tests.factories import NOW, PatientFactory, RoomFactory, at, clinician
from treatments import services
from treatments.models import ProtocolVersion, RoomOutOfService, TreatmentSession
from treatments.rules import add_months
from treatments.slots import free_slots

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
ISTANBUL = ZoneInfo("Europe/Istanbul")


def site(name="Berlin Mitte", zone="Europe/Berlin", hours=((9, 17),), weekdays=range(7)):
    made = Site.objects.create(name=name, time_zone=zone)
    for weekday in weekdays:
        for opens, closes in hours:
            OpeningHours.objects.create(
                site=made, weekday=weekday, opens=time(opens), closes=time(closes)
            )
    return made


def works(doctor, at_site, hours=((9, 17),), weekdays=range(7)):
    for weekday in weekdays:
        for opens, closes in hours:
            WorkingHours.objects.create(
                site=at_site,
                clinician=doctor,
                weekday=weekday,
                opens=time(opens),
                closes=time(closes),
            )


def book(patient, start, doctor, room, minutes=60, **kwargs):
    return services.book_session(
        patient=patient,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        clinician=doctor,
        room=room,
        booked_by=doctor,
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def refusal_code(call) -> str:
    with pytest.raises(ValidationError) as info:
        with transaction.atomic():
            call()
    return info.value.code


# --- Sites and their clocks -------------------------------------------------------------


def test_a_session_counts_its_day_on_its_sites_clock_around_midnight():
    berlin, istanbul = site(hours=()), site("Istanbul", "Europe/Istanbul", hours=())
    doctor = clinician()
    berlin_room, istanbul_room = RoomFactory(site=berlin), RoomFactory(site=istanbul)
    patient = PatientFactory()
    # 00:30 on 10 March in Istanbul is 22:30 on 9 March in Berlin.
    first = book(patient, datetime(2027, 3, 10, 0, 30, tzinfo=ISTANBUL), doctor, istanbul_room)
    assert first.site == istanbul and first.local_date == date(2027, 3, 10)
    # 9 September, 23:30 in Berlin (already 10 September in Istanbul): its day is Berlin's,
    # one day short of six months.
    late_evening = datetime(2027, 9, 9, 23, 30, tzinfo=BERLIN)
    code = refusal_code(lambda: book(patient, late_evening, doctor, berlin_room))
    assert code == "session_gap"
    second = book(patient, datetime(2027, 9, 10, 0, 30, tzinfo=BERLIN), doctor, berlin_room)
    assert second.local_date == date(2027, 9, 10) and second.site == berlin


def test_the_gap_holds_across_sites_both_ways():
    berlin, istanbul = site(hours=()), site("Istanbul", "Europe/Istanbul", hours=())
    doctor, patient = clinician(), PatientFactory()
    book(patient, at(date(2027, 6, 1)), doctor, RoomFactory(site=berlin))
    before = datetime(2027, 3, 1, 10, tzinfo=ISTANBUL)
    after = datetime(2027, 10, 1, 10, tzinfo=ISTANBUL)
    istanbul_room = RoomFactory(site=istanbul)
    assert refusal_code(lambda: book(patient, before, doctor, istanbul_room)) == "session_gap"
    assert refusal_code(lambda: book(patient, after, doctor, istanbul_room)) == "session_gap"


def test_rooms_without_a_site_are_at_the_default_site():
    room = RoomFactory()
    assert room.site == Site.objects.order_by("pk").first()
    session = book(PatientFactory(), at(date(2027, 3, 10)), clinician(), room)
    assert session.site == room.site


def test_a_site_time_zone_is_validated():
    bad = Site(name="Nowhere", time_zone="Mars/Olympus")
    with pytest.raises(ValidationError) as info:
        bad.full_clean()
    assert "time_zone" in info.value.error_dict


# --- Opening hours and availability -------------------------------------------------------


def test_opening_hours_are_wall_clock_times_across_a_dst_change():
    berlin = site()
    doctor = clinician()
    works(doctor, berlin)
    room = RoomFactory(site=berlin)
    # Berlin moves to summer time on Sunday 28 March 2027.
    for day in (date(2027, 3, 27), date(2027, 3, 29)):
        assert (
            refusal_code(lambda d=day: book(PatientFactory(), at(d, 8), doctor, room))
            == "outside_hours"
        )
        assert (
            refusal_code(lambda d=day: book(PatientFactory(), at(d, 16, 30), doctor, room))
            == "outside_hours"
        )  # would run until 17:30
        book(PatientFactory(), at(day, 9), doctor, room)
    slots = free_slots(
        patient=PatientFactory(),
        site=berlin,
        start_day=date(2027, 3, 27),
        end_day=date(2027, 3, 29),
        now=NOW,
        limit=None,
    )
    firsts = {}
    for slot in slots:
        firsts.setdefault(slot.local_start.date(), slot.local_start.time())
    # 09:00 was booked on the 27th and the 29th (one room, one clinician): 10:00 is first.
    assert firsts == {
        date(2027, 3, 27): time(10),
        date(2027, 3, 28): time(9),
        date(2027, 3, 29): time(10),
    }


def test_absence_working_hours_outage_and_closure_are_refused_with_codes():
    berlin = site()
    doctor, other = clinician(), clinician()
    works(doctor, berlin)
    works(other, berlin, hours=((13, 17),))
    room = RoomFactory(site=berlin)
    day = date(2027, 3, 10)
    ClinicianAbsence.objects.create(clinician=doctor, starts_at=at(day, 9), ends_at=at(day, 12))
    RoomOutOfService.objects.create(room=room, starts_at=at(day, 15), ends_at=at(day, 16))
    SiteClosure.objects.create(
        site=berlin, first_day=date(2027, 3, 11), last_day=date(2027, 3, 11), reason="Holiday"
    )
    patient = PatientFactory()
    assert refusal_code(lambda: book(patient, at(day, 10), doctor, room)) == "clinician_absent"
    assert refusal_code(lambda: book(patient, at(day, 10), other, room)) == "clinician_absent"
    assert refusal_code(lambda: book(patient, at(day, 15), other, room)) == "room_out_of_service"
    closed = at(date(2027, 3, 11), 10)
    assert refusal_code(lambda: book(patient, closed, doctor, room)) == "outside_hours"
    assert book(patient, at(day, 13), other, room).pk


def test_an_override_books_anyway_and_records_who_and_why():
    berlin = site()
    doctor = clinician()
    works(doctor, berlin)
    room = RoomFactory(site=berlin)
    session = book(
        PatientFactory(), at(date(2027, 3, 10), 19), doctor, room, override_reason="  Late surgery "
    )
    assert session.availability_override_reason == "Late surgery"
    assert session.availability_override_by == doctor
    # Moved into the hours: nothing overridden any more.
    moved = services.reschedule_session(
        session=session,
        starts_at=at(date(2027, 3, 10), 10),
        ends_at=at(date(2027, 3, 10), 11),
        changed_by=doctor,
        now=NOW,
    )
    assert moved.availability_override_reason == "" and moved.availability_override_by is None
    code = refusal_code(
        lambda: services.reschedule_session(
            session=moved,
            starts_at=at(date(2027, 3, 10), 20),
            ends_at=at(date(2027, 3, 10), 21),
            changed_by=doctor,
            now=NOW,
        )
    )
    assert code == "outside_hours"


def test_a_site_without_opening_hours_refuses_no_hours():
    doctor = clinician()
    room = RoomFactory(site=site(hours=()))
    assert book(PatientFactory(), at(date(2027, 3, 10), 21), doctor, room).pk


# --- The slot finder ---------------------------------------------------------------------


def test_the_finder_respects_the_protocol_and_notice():
    berlin = site()
    doctor = clinician()
    works(doctor, berlin)
    room = RoomFactory(site=berlin)
    patient = PatientFactory()
    book(patient, at(date(2027, 3, 10)), doctor, room)
    newcomer = PatientFactory()
    slots = free_slots(
        patient=newcomer,
        site=berlin,
        start_day=date(2027, 1, 4),
        end_day=date(2027, 1, 31),
        now=NOW,
        limit=3,
    )
    # Notice: the NSAID pause (3 days before) must not have begun on 4 January.
    assert slots[0].local_start == datetime(2027, 1, 8, 9, tzinfo=BERLIN)
    after = free_slots(
        patient=patient,
        site=berlin,
        start_day=date(2027, 1, 4),
        end_day=date(2027, 12, 31),
        now=NOW,
        limit=1,
    )
    # Six months from 10 March both ways: nothing before it (10 September 2026 is past),
    # nothing until 10 September 2027 after it.
    assert after[0].local_start == datetime(2027, 9, 10, 9, tzinfo=BERLIN)
    assert after[0].clinician == doctor and after[0].room == room
    assert "Berlin time" in after[0].text


def test_a_month_of_slots_takes_a_constant_number_of_queries(django_assert_max_num_queries):
    berlin = site(hours=((9, 12), (13, 18)))
    doctors = [clinician() for _ in range(4)]
    rooms = [RoomFactory(site=berlin) for _ in range(3)]
    for doctor in doctors:
        works(doctor, berlin)
        ClinicianAbsence.objects.create(
            clinician=doctor, starts_at=at(date(2027, 2, 3), 9), ends_at=at(date(2027, 2, 5), 18)
        )
    for n in range(20):
        book(
            PatientFactory(),
            at(date(2027, 2, 1) + timedelta(days=n), 9 + n % 8),
            doctors[n % 4],
            rooms[n % 3],
            override_reason="set-up",
        )
    patient = PatientFactory()
    with django_assert_max_num_queries(12):
        slots = free_slots(
            patient=patient,
            site=berlin,
            start_day=date(2027, 2, 1),
            end_day=date(2027, 2, 28),
            now=NOW,
        )
    assert len(slots) > 150


def test_a_slots_clinician_and_room_are_read_no_further_when_booked_or_moved():
    """The finder reads of a clinician what a slot shows and the services check
    (slots.DOCTOR_FIELDS; the other fields deferred): booking a session at a slot, or moving
    one to a slot, with its clinician reads nothing more of them (a deferred field read
    would be a query of auth_user)."""
    from treatments.slots import DOCTOR_FIELDS

    berlin = site()
    doctor = clinician(first_name="Ada", last_name="Meyer")
    works(doctor, berlin)
    RoomFactory(site=berlin, name="Room 1")
    patient = PatientFactory()
    day = date(2027, 3, 8)
    found = free_slots(patient=patient, site=berlin, start_day=day, end_day=day, now=NOW)
    first, later = found[0], found[3]
    assert first.clinician.pk == doctor.pk and first.clinician_name == "Ada Meyer"
    read = {f.attname for f in first.clinician._meta.concrete_fields} - (
        first.clinician.get_deferred_fields()
    )
    assert read == set(DOCTOR_FIELDS)
    with CaptureQueriesContext(connection) as ctx:
        assert first.room.site == berlin  # the finder's site, not read again
    assert not ctx.captured_queries
    with CaptureQueriesContext(connection) as ctx:
        assert "Room 1" in first.text
        session = book(patient, first.starts_at, first.clinician, first.room)
        services.reschedule_session(
            session=session,
            starts_at=later.starts_at,
            ends_at=later.ends_at,
            clinician=later.clinician,
            room=later.room,
            changed_by=doctor,
            now=NOW,
        )
    # (reschedule_session's full_clean asks whether `changed_by` exists: SELECT 1 FROM it.)
    assert not [q for q in ctx.captured_queries if q["sql"].startswith('SELECT "auth_user".')]
    session.refresh_from_db()
    assert (session.clinician_id, session.starts_at) == (doctor.pk, later.starts_at)


def test_a_limited_search_reads_a_week_first_and_gives_the_unlimited_searchs_first_slots():
    berlin = site(hours=((9, 11),))
    doctor = clinician()
    works(doctor, berlin)
    room = RoomFactory(site=berlin)
    first = date(2027, 2, 1)
    # The first eight days full (two slots a day), some of the ninth: the week read first
    # has no free slot and the rest of the range is read in one more query.
    for n in range(8):
        for hour in (9, 10):
            book(PatientFactory(), at(first + timedelta(days=n), hour), doctor, room)
    book(PatientFactory(), at(first + timedelta(days=8), 9), doctor, room)
    patient = PatientFactory()

    def search(limit, days=28):
        end = first + timedelta(days=days - 1)
        with CaptureQueriesContext(connection) as captured:
            found = free_slots(
                patient=patient, site=berlin, start_day=first, end_day=end, now=NOW, limit=limit
            )
        return [slot.starts_at for slot in found], len(captured.captured_queries)

    every, queries = search(None)
    assert queries == FINDER_QUERIES
    assert every[0] == at(first + timedelta(days=8), 10)
    for limit in (1, 3, 40):
        assert search(limit) == (every[:limit], FINDER_QUERIES + 1)
    # Found in the first week: one read of the busy times, as without a limit.
    start = first + timedelta(days=9)
    later = [slot for slot in every if slot >= at(start, 9)]
    with CaptureQueriesContext(connection) as captured:
        found = free_slots(
            patient=patient,
            site=berlin,
            start_day=start,
            end_day=start + timedelta(days=27),
            now=NOW,
            limit=5,
        )
    assert [slot.starts_at for slot in found] == later[:5]
    assert len(captured.captured_queries) == FINDER_QUERIES


def test_a_session_across_midnight_blocks_the_next_days_first_slots():
    istanbul = site("Istanbul", "Europe/Istanbul", hours=((0, 3),))
    doctor = clinician()
    works(doctor, istanbul, hours=((0, 3),))
    room = RoomFactory(site=istanbul)
    late = datetime(2027, 2, 9, 23, 30, tzinfo=ISTANBUL)  # until 00:30 on the 10th
    book(PatientFactory(), late, doctor, room, override_reason="set-up")
    slots = free_slots(
        patient=PatientFactory(),
        site=istanbul,
        start_day=date(2027, 2, 10),
        end_day=date(2027, 2, 10),
        now=NOW,
    )
    assert [slot.local_start.time() for slot in slots] == [time(1), time(2)]


# The queries of one call: the protocol, the patient's sessions, and on PostgreSQL one
# statement of availability (opening hours, closures, working hours, absences, outages), the
# rooms, the clinicians and the busy times (elsewhere four queries). Two (the protocol, the
# patient's sessions) when the six-month gap rules out every day of the range.
FINDER_QUERIES = 3 if connection.vendor == "postgresql" else 6


def _finder_queries(patient, at_site, days=28) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        slots = free_slots(
            patient=patient,
            site=at_site,
            start_day=date(2027, 2, 1),
            end_day=date(2027, 2, 1) + timedelta(days=days - 1),
            now=NOW,
        )
    return len(captured.captured_queries), len(slots)


def test_the_finders_queries_do_not_grow_with_sessions_days_or_staff():
    berlin = site(hours=((9, 12), (13, 18)))
    doctor, room = clinician(), RoomFactory(site=berlin)
    works(doctor, berlin)
    patient = PatientFactory()
    quiet, _ = _finder_queries(patient, berlin)
    assert quiet == FINDER_QUERIES
    # Many more sessions, clinicians, rooms, absences, outages, closures, another site...
    istanbul = site("Istanbul", "Europe/Istanbul")
    doctors = [doctor] + [clinician() for _ in range(5)]
    rooms = [room] + [RoomFactory(site=berlin) for _ in range(4)]
    for other in doctors[1:]:
        works(other, berlin)
        works(other, istanbul)
    for n in range(60):
        day = date(2027, 2, 1) + timedelta(days=n % 28)
        book(
            PatientFactory(),
            at(day, 9 + n % 8),
            doctors[n % 6],
            rooms[n % 5],
            override_reason="set-up",
        )
    for n, other in enumerate(doctors):
        ClinicianAbsence.objects.create(
            clinician=other,
            starts_at=at(date(2027, 2, 3 + n), 9),
            ends_at=at(date(2027, 2, 4 + n), 12),
        )
    for n, other_room in enumerate(rooms):
        RoomOutOfService.objects.create(
            room=other_room,
            starts_at=at(date(2027, 2, 10 + n), 9),
            ends_at=at(date(2027, 2, 10 + n), 11),
        )
    SiteClosure.objects.create(
        site=berlin, first_day=date(2027, 2, 20), last_day=date(2027, 2, 21), reason="Works"
    )
    book(
        patient,
        at(date(2027, 9, 1), 10, tz=ISTANBUL),
        doctors[1],
        RoomFactory(site=istanbul),
    )
    busy, found = _finder_queries(patient, berlin)
    longer, _ = _finder_queries(patient, berlin, days=90)
    assert busy == longer == FINDER_QUERIES
    assert found > 100
    treated = PatientFactory()
    book(treated, at(date(2027, 1, 20), 10), doctor, room, override_reason="set-up")
    assert _finder_queries(treated, berlin) == (2, 0)


# --- The property: what the finder offers is what booking accepts --------------------------

DAYS = [date(2027, 1, 6) + timedelta(days=n) for n in range(3)]  # 6 Jan: short notice
ZONES = ("Europe/Berlin", "Europe/Istanbul")
# The NSAID notice counts on the patient's calendar: a day apart from the sites' around
# midnight (New York behind, Kiritimati at UTC+14 ahead).
PATIENT_ZONES = ("Europe/Berlin", "Europe/Istanbul", "America/New_York", "Pacific/Kiritimati")
DAY_END = 24 * 60 - 1  # 23:59, the latest closing on the same day


def _accepted(patient, start, end, doctor, room) -> bool:
    try:
        with transaction.atomic():
            services.book_session(
                patient=patient,
                starts_at=start,
                ends_at=end,
                clinician=doctor,
                room=room,
                booked_by=doctor,
                now=NOW,
            )
            transaction.set_rollback(True)
    except ValidationError:
        return False
    return True


def _wall(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


# Intervals of a day in minutes on the site's clock, on the hour or the half hour, from
# midnight on (an Istanbul site open at 00:30 is open on Berlin's previous evening).
intervals = st.tuples(st.integers(0, 45), st.integers(1, 16)).map(
    lambda t: (t[0] * 30, min(t[0] * 30 + t[1] * 30, DAY_END))
)
schedule = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(ZONES),  # the site searched; the other site has the other
        "patient_zone": st.sampled_from(PATIENT_ZONES),
        "minutes": st.sampled_from([30, 60, 90]),
        "opening": st.lists(intervals, min_size=0, max_size=2),
        "working": st.lists(st.lists(intervals, min_size=0, max_size=2), min_size=2, max_size=2),
        # (day, hour on the searched site's clock, clinician, room: 2 is at the other site)
        "sessions": st.lists(
            st.tuples(
                st.sampled_from(DAYS), st.integers(0, 23), st.integers(0, 1), st.integers(0, 2)
            ),
            max_size=8,
        ),
        "absences": st.lists(
            st.tuples(
                st.integers(0, 1), st.sampled_from(DAYS), st.integers(0, 23), st.integers(1, 5)
            ),
            max_size=2,
        ),
        "outage": st.one_of(
            st.none(), st.tuples(st.integers(0, 1), st.sampled_from(DAYS), st.integers(0, 23))
        ),
        # An earlier session (at either site) whose six months end around the searched days.
        "previous": st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from([date(2026, 7, 6), date(2026, 7, 7), date(2026, 6, 1)]),
                st.booleans(),
            ),
        ),
        "closed": st.one_of(st.none(), st.sampled_from(DAYS)),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=schedule)
def test_the_finder_offers_exactly_what_booking_accepts(plan):
    """Over random schedules at two sites on different clocks (hours, a lunch break, working
    hours, other sessions at either site, absences, a room out of service, a closure, an
    earlier session, the patient's own zone): no slot the finder offers is refused by
    book_session, and no start on the grid that book_session would accept is missing."""
    with transaction.atomic():
        _check_plan(plan)
        transaction.set_rollback(True)


def _check_plan(plan):
    zone = ZoneInfo(plan["zone"])
    other_zone = next(z for z in ZONES if z != plan["zone"])
    searched = Site.objects.create(name="Searched site", time_zone=plan["zone"])
    other = Site.objects.create(name="Other site", time_zone=other_zone)  # no hours: open
    for opens, closes in plan["opening"]:
        for day in DAYS:
            OpeningHours.objects.create(
                site=searched, weekday=day.weekday(), opens=_wall(opens), closes=_wall(closes)
            )
    doctors = [clinician(last_name=f"Doc{n}") for n in range(2)]
    rooms = [RoomFactory(site=searched) for _ in range(2)] + [RoomFactory(site=other)]
    for doctor, hours in zip(doctors, plan["working"], strict=True):
        for opens, closes in hours:
            for day in DAYS:
                WorkingHours.objects.create(
                    site=searched,
                    clinician=doctor,
                    weekday=day.weekday(),
                    opens=_wall(opens),
                    closes=_wall(closes),
                )
    for day, hour, d, r in plan["sessions"]:
        try:
            book(
                PatientFactory(),
                at(day, hour, tz=zone),
                doctors[d],
                rooms[r],
                minutes=plan["minutes"],
                override_reason="set-up",
                nsaid_free_confirmed=True,
            )
        except ValidationError:
            pass  # a clash: the schedule just has one session fewer
    for d, day, hour, length in plan["absences"]:
        ClinicianAbsence.objects.create(
            clinician=doctors[d],
            starts_at=at(day, hour, tz=zone),
            ends_at=at(day, hour, tz=zone) + timedelta(hours=length),
        )
    if plan["outage"]:
        r, day, hour = plan["outage"]
        RoomOutOfService.objects.create(
            room=rooms[r],
            starts_at=at(day, hour, tz=zone),
            ends_at=at(day, hour, tz=zone) + timedelta(hours=1),
        )
    if plan["closed"]:
        SiteClosure.objects.create(
            site=searched, first_day=plan["closed"], last_day=plan["closed"], reason="x"
        )
    patient = PatientFactory(time_zone=plan["patient_zone"])
    if plan["previous"]:
        day, elsewhere = plan["previous"]  # in the past: written without the service
        room = rooms[2] if elsewhere else rooms[0]
        TreatmentSession.objects.create(
            patient=patient,
            starts_at=at(day, 10, tz=room.site.tz),
            ends_at=at(day, 11, tz=room.site.tz),
            clinician=doctors[0],
            room=room,
            site=room.site,
            protocol=ProtocolVersion.objects.first(),
            gap_months=6,
            local_date=day,
            gap_until=add_months(day, 6),
            booked_by=doctors[0],
            booked_at=at(day, 9),
            status="completed",
            completed_at=at(day, 11),
        )

    length = timedelta(minutes=plan["minutes"])
    offered = free_slots(
        patient=patient,
        site=searched,
        start_day=DAYS[0],
        end_day=DAYS[-1],
        now=NOW,
        duration=length,
    )
    for slot in offered:  # every slot offered is accepted, at the searched site
        assert slot.room.site_id == searched.pk and slot.local_start.tzinfo == zone
        assert slot.local_start.date() in DAYS
        assert _accepted(patient, slot.starts_at, slot.ends_at, slot.clinician, slot.room), (
            slot.text
        )
    # Every start on the grid (each opening interval's start, one length apart, on the
    # site's clock; 08-18 when the site has no hours) that some clinician and room of the
    # site would be accepted at is offered.
    offered_starts = {slot.starts_at for slot in offered}
    grid = plan["opening"] or [(8 * 60, 18 * 60)]
    step = plan["minutes"]
    for day in DAYS:
        if plan["opening"] and day == plan["closed"]:
            continue
        for opens, closes in grid:
            for minute in range(opens, closes - step + 1, step):
                start = datetime.combine(day, _wall(minute), tzinfo=zone)
                if start in offered_starts:
                    continue
                for doctor in doctors:
                    for room in rooms[:2]:
                        assert not _accepted(patient, start, start + length, doctor, room), (
                            start,
                            doctor,
                            room,
                        )
