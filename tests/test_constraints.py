"""The database holds the rules even when treatments.services is bypassed."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import NOW, PatientFactory, RoomFactory, at, book, clinician
from treatments import rules
from treatments.models import ProtocolVersion, SessionStatus, TreatmentSession

pytestmark = pytest.mark.django_db


def raw_session(*, patient, day, hour=10, doctor=None, room=None, gap_months=6, **overrides):
    """A session written straight through the ORM, with no service check."""
    existing = TreatmentSession.objects.first()
    doctor = doctor or clinician()
    fields = dict(
        patient=patient,
        starts_at=at(day, hour),
        ends_at=at(day, hour + 1),
        clinician=doctor,
        room=room or RoomFactory(),
        # With no session yet (a Hypothesis plan without any): the protocol in force, the
        # clinician as the one who booked it.
        protocol=existing.protocol
        if existing
        else ProtocolVersion.objects.earliest("effective_from"),
        gap_months=gap_months,
        local_date=day,
        gap_until=rules.add_months(day, gap_months),
        booked_by=existing.booked_by if existing else doctor,
        booked_at=NOW,
    )
    fields.update(overrides)
    with transaction.atomic():
        return TreatmentSession.objects.create(**fields)


def test_gap_exclusion_refuses_a_raw_insert():
    first = book(day=date(2027, 3, 10))
    with pytest.raises(IntegrityError, match="session_patient_gap_excl"):
        raw_session(patient=first.patient, day=date(2027, 9, 9))
    # The exact day six months on is allowed by the database too.
    assert raw_session(patient=first.patient, day=date(2027, 9, 10))


def test_gap_exclusion_refuses_a_raw_insert_before():
    later = book(day=date(2027, 9, 10))
    with pytest.raises(IntegrityError, match="session_patient_gap_excl"):
        raw_session(patient=later.patient, day=date(2027, 3, 11))


def test_reviving_a_cancelled_session_by_update_is_refused():
    patient = PatientFactory()
    first = book(patient, date(2027, 3, 10))
    first.status = SessionStatus.CANCELLED
    first.cancellation_reason = "ill"
    first.save()
    book(patient, date(2027, 4, 10))
    with pytest.raises(IntegrityError, match="session_patient_gap_excl"):
        with transaction.atomic():
            TreatmentSession.objects.filter(pk=first.pk).update(status=SessionStatus.SCHEDULED)


def test_a_shrunk_gap_is_refused():
    first = book(day=date(2027, 3, 10))
    with pytest.raises(IntegrityError, match="session_gap_until_by_protocol"):
        with transaction.atomic():
            TreatmentSession.objects.filter(pk=first.pk).update(gap_until=date(2027, 4, 10))


def test_a_local_date_far_from_the_start_is_refused():
    first = book(day=date(2027, 3, 10))
    with pytest.raises(IntegrityError, match="session_local_date_near_start"):
        with transaction.atomic():
            TreatmentSession.objects.filter(pk=first.pk).update(
                local_date=date(2027, 1, 10), gap_until=date(2027, 7, 10)
            )


def test_clinician_and_room_double_booking_refused_by_the_database():
    first = book(day=date(2027, 3, 10))
    with pytest.raises(IntegrityError, match="session_clinician_no_overlap"):
        raw_session(patient=PatientFactory(), day=date(2027, 3, 10), doctor=first.clinician)
    with pytest.raises(IntegrityError, match="session_room_no_overlap"):
        raw_session(patient=PatientFactory(), day=date(2027, 3, 10), room=first.room)


def test_end_before_start_refused_by_the_database():
    first = book(day=date(2027, 3, 10))
    with pytest.raises(IntegrityError, match="session_ends_after_start"):
        with transaction.atomic():
            TreatmentSession.objects.filter(pk=first.pk).update(ends_at=first.starts_at)


def test_postgresql_month_arithmetic_matches_the_rules_module():
    """The constraint uses `date + interval`; it must agree with rules.add_months every day."""
    start, days = date(2026, 1, 1), 4 * 366
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT d::date, (d::date + make_interval(months => 6))::date,
                      (d::date + make_interval(months => 12))::date
               FROM generate_series(%s::date, %s::date, interval '1 day') AS d""",
            [start, start + timedelta(days=days)],
        )
        rows = cursor.fetchall()
    assert len(rows) == days + 1
    for day, six, twelve in rows:
        assert rules.add_months(day, 6) == six, day
        assert rules.add_months(day, 12) == twelve, day
