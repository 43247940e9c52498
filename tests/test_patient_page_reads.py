"""The staff's patient page: what it reads from what it has already loaded (issue 18)."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import PatientFactory, ProductLotFactory, at, book, reconfirm
from treatments import services
from treatments.models import FollowUpKind, FollowUpStatus

pytestmark = pytest.mark.django_db

FLAG = "previous 6-month assessment missing"


def completed_then_booked():
    """A completed session (its assessment still planned), and the next one booked."""
    patient = PatientFactory()
    first_day = date(2026, 1, 12)
    first = book(patient, first_day, hour=9, now=at(first_day - timedelta(days=10)))
    reconfirm(patient, at=first.starts_at)
    first = services.complete_session(
        session=first,
        vials=[(ProductLotFactory(), 1)],
        completed_by=first.clinician,
        now=first.ends_at,
    )
    book(patient, date(2027, 3, 10), hour=10, now=at(date(2027, 2, 1)))
    return patient, first


def test_the_missing_assessment_flag_follows_the_previous_session(staff_client):
    patient, first = completed_then_booked()
    url = reverse("patient_detail", args=[patient.pk])
    assert staff_client.get(url).content.decode().count(FLAG) == 1
    assessment = first.follow_ups.get(kind=FollowUpKind.ASSESSMENT)
    services.record_follow_up(
        follow_up=assessment,
        status=FollowUpStatus.DONE,
        recorded_by=first.clinician,
        hair_density_per_cm2=100,
        patient_rating=5,
        now=at(assessment.due_date),
    )
    assert FLAG not in staff_client.get(url).content.decode()


def photo_reads(client, patient):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("patient_detail", args=[patient.pk]))
    assert response.status_code == 200
    reads = sum("treatments_followupphoto" in q["sql"] for q in ctx.captured_queries)
    return reads, 'id="compare-link"' in response.content.decode()


def test_the_photos_are_read_for_who_may_see_them(clinic_admin_client):
    patient, _ = completed_then_booked()
    assert photo_reads(clinic_admin_client, patient) == (1, True)


def test_the_photos_are_not_read_for_the_front_desk(staff_client):
    patient, _ = completed_then_booked()
    assert photo_reads(staff_client, patient) == (0, False)
