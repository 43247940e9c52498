"""Two staff members booking at the same instant: exactly one wins, the rest get a clear error.

Each thread has its own database connection (Django opens one per thread), and the test is
transactional so every thread sees what the others committed.
"""

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from tests.factories import NOW, PatientFactory, RoomFactory, at, clinician
from tests.test_constraints import raw_session
from treatments import services
from treatments.models import TreatmentSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]

THREADS = 20


def book_at(patient, start, doctor, room, **kwargs):
    """A one-hour booking through the real service, made by its clinician, at NOW."""
    return services.book_session(
        patient=patient,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        clinician=doctor,
        room=room,
        booked_by=doctor,
        now=NOW,
        **kwargs,
    )


def run_at_once(count, fn):
    """Run fn(i) in `count` threads released together; collect outcome per thread."""
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def worker(i):
        try:
            barrier.wait(timeout=30)
            fn(i)
            outcomes[i] = "booked"
        except ValidationError as exc:
            outcomes[i] = getattr(exc, "code", None) or f"uncoded: {exc}"
        except Exception as exc:  # anything else is a bug the test must show
            outcomes[i] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_twenty_bookings_of_one_patient_within_six_months():
    patient = PatientFactory()
    doctors = [clinician() for _ in range(THREADS)]
    rooms = [RoomFactory() for _ in range(THREADS)]

    def book(i):
        start = at(date(2027, 3, 1) + timedelta(days=5 * i))
        book_at(patient, start, doctors[i], rooms[i])

    outcomes = run_at_once(THREADS, book)
    assert outcomes.count("booked") == 1, outcomes
    assert outcomes.count("session_gap") == THREADS - 1, outcomes
    assert TreatmentSession.objects.filter(patient=patient).count() == 1


def test_twenty_bookings_of_one_clinician_at_one_time():
    doctor = clinician()
    patients = [PatientFactory() for _ in range(THREADS)]
    rooms = [RoomFactory() for _ in range(THREADS)]
    start = at(date(2027, 3, 10), 10)

    def book(i):
        book_at(patients[i], start, doctor, rooms[i])

    outcomes = run_at_once(THREADS, book)
    assert outcomes.count("booked") == 1, outcomes
    assert outcomes.count("slot_taken") == THREADS - 1, outcomes
    assert TreatmentSession.objects.filter(clinician=doctor).count() == 1


def test_twenty_bookings_of_one_room_at_one_time():
    room = RoomFactory()
    patients = [PatientFactory() for _ in range(THREADS)]
    doctors = [clinician() for _ in range(THREADS)]
    start = at(date(2027, 3, 10), 10)

    def book(i):
        # overlapping, not identical
        book_at(patients[i], start + timedelta(minutes=i), doctors[i], room)

    outcomes = run_at_once(THREADS, book)
    assert outcomes.count("booked") == 1, outcomes
    assert outcomes.count("slot_taken") == THREADS - 1, outcomes


def _book_while_a_rival_insert_is_uncommitted(rival_insert, booking):
    """Force the race the service check cannot see: a rival transaction inserts a clashing
    session and commits only once our booking is blocked on the exclusion constraint."""
    inserted, outcome = threading.Event(), {}

    def rival():
        try:
            with transaction.atomic():
                rival_insert()
                inserted.set()
                _wait_until_someone_waits_for_a_lock()
        finally:
            connection.close()

    def ours():
        inserted.wait(timeout=10)
        try:
            booking()
            outcome["result"] = "booked"
        except ValidationError as exc:
            outcome["result"] = exc
        except Exception as exc:
            outcome["result"] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=rival), threading.Thread(target=ours)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcome["result"]


def _wait_until_someone_waits_for_a_lock():
    import time

    from django.db import connections

    probe = connections.create_connection("default")
    try:
        for _ in range(200):
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    return
            time.sleep(0.05)
        raise AssertionError("the booking never waited on the rival's insert")
    finally:
        probe.close()


def test_a_gap_race_past_the_service_check_reads_as_session_gap():
    patient = PatientFactory()
    doctor, room = clinician(), RoomFactory()
    # One committed session so raw_session has a protocol and a booker to copy.
    book_at(PatientFactory(), at(date(2027, 2, 1)), doctor, room)
    start = at(date(2027, 5, 10))
    result = _book_while_a_rival_insert_is_uncommitted(
        lambda: raw_session(patient=patient, day=date(2027, 3, 10)),
        lambda: book_at(patient, start, doctor, room),
    )
    assert isinstance(result, ValidationError), result
    assert result.code == "session_gap"
    assert "10 September 2027" in result.messages[0]


def test_a_slot_race_past_the_service_check_reads_as_slot_taken():
    doctor, room = clinician(), RoomFactory()
    book_at(PatientFactory(), at(date(2027, 2, 1)), doctor, room)
    start = at(date(2027, 3, 10))
    result = _book_while_a_rival_insert_is_uncommitted(
        lambda: raw_session(patient=PatientFactory(), day=date(2027, 3, 10), doctor=doctor),
        lambda: book_at(PatientFactory(), start, doctor, RoomFactory()),
    )
    assert isinstance(result, ValidationError), result
    assert result.code == "slot_taken"


def test_one_booking_form_submitted_twenty_times_at_once_books_once():
    import uuid

    patient = PatientFactory()
    doctor, room = clinician(), RoomFactory()
    key = uuid.uuid4()
    start = at(date(2027, 3, 10), 10)
    booked = []

    def book(i):
        booked.append(book_at(patient, start, doctor, room, booking_key=key).pk)

    outcomes = run_at_once(THREADS, book)
    assert outcomes == ["booked"] * THREADS, outcomes
    assert len(set(booked)) == 1
    assert TreatmentSession.objects.filter(patient=patient).count() == 1


def test_a_reused_form_key_for_other_patients_is_refused_not_a_crash():
    import uuid

    key = uuid.uuid4()
    patients = [PatientFactory() for _ in range(THREADS)]
    doctors = [clinician() for _ in range(THREADS)]
    rooms = [RoomFactory() for _ in range(THREADS)]

    def book(i):
        start = at(date(2027, 3, 10), 10)
        book_at(patients[i], start, doctors[i], rooms[i], booking_key=key)

    outcomes = run_at_once(THREADS, book)
    assert outcomes.count("booked") == 1, outcomes
    assert outcomes.count("stale_form") == THREADS - 1, outcomes
