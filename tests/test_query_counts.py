"""Every front-office page issues the same number of SQL queries whatever the data size."""

import io
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from reminders.models import Reminder
from tests.factories import PatientFactory, ProductLotFactory, at, book, pending_intake, reconfirm
from treatments import services
from treatments.models import FollowUpStatus
from treatments.tasks import recount_follow_up_adherence

pytestmark = pytest.mark.django_db

# The pinned ceilings: a page may get cheaper, never dearer, and never grow with the data.
# Each staff page counts one more than before issue 17: the Inbox's unread count in the
# navigation (one COUNT on the partial index inbound_unread_idx).
MAX_QUERIES = {
    "schedule": 9,
    "schedule_week": 9,
    "patient_list": 5,
    # One more than before the access log: its INSERT (audit.services.record_access).
    "patient_detail": 20,  # 14 + the intake: its newest version, lines, reconfirmations,
    # and what changed since the last reviewed version (that version and its lines)
    "session_book": 7,  # the page's reads (the patient's sessions once, for the eligibility
    # and the finder, with the protocol in force), the active sites, the slot finder's one
    # statement (availability, rooms, clinicians, the range's sessions), the form's options
    # (one), the Inbox's unread count
    "session_detail": 12,  # 8 + the access log INSERT + missing consents + intake check + inbox
    "session_detail_amended": 10,
    "session_amend": 9,
    "patient_export": 25,  # 19 + the access log INSERT, the history and the reads, the intake (3)
    "patient_export_json": 25,
    "patient_history": 8,
    "session_history": 8,
    "follow_up_review": 8,
    "failed_reminders": 5,
}


def photo():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    return SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png")


def populate(n: int):
    """n patients with a session today; the first also has n earlier, fully recorded ones."""
    lot = ProductLotFactory()
    first = None
    for i in range(n):
        patient = PatientFactory()
        first = first or patient
        book(patient, date(2027, 1, 4), hour=10 + i % 8, now=at(date(2026, 12, 1)))
    for k in range(n):
        day = date(2021, 1, 10) + timedelta(days=190 * k)
        session = book(first, day, hour=9, now=at(day - timedelta(days=10)))
        reconfirm(first, at=session.starts_at)  # "nothing changed" since the previous one
        session = services.complete_session(
            session=session, vials=[(lot, 1)], completed_by=session.clinician, now=session.ends_at
        )
        for amendment in range(k):  # records amended 0..n-1 times
            session = services.amend_session_record(
                session=session,
                amended_by=session.clinician,
                reason=f"Correction {amendment}",
                expected_version=session.record_version,
                notes=f"Amended notes {amendment}",
                side_effects="",
                vials=[(lot, 1 + amendment % 2)],
                now=session.ends_at + timedelta(days=amendment + 1),
            )
        for follow_up in session.follow_ups.all():
            services.record_follow_up(
                follow_up=follow_up,
                status=FollowUpStatus.DONE,
                recorded_by=session.clinician,
                hair_density_per_cm2=100 + k,
                patient_rating=5,
                photos=[("top", photo())],
                now=at(follow_up.due_date),
            )
    Reminder.objects.filter(kind="nsaid_end").update(state="failed")
    # A new version waiting for review: the patient page shows what changed (its dearest case).
    pending_intake(first, goals=f"Goals of {n}")
    return first


def pages(patient):
    session = patient.sessions.order_by("-starts_at").first()
    amended = patient.sessions.filter(record_version__gt=1).order_by("-starts_at").first()
    return {
        "schedule": reverse("schedule") + "?day=2027-01-04",
        "schedule_week": reverse("schedule") + "?day=2027-01-04&view=week",
        "patient_list": reverse("patient_list"),
        "patient_detail": reverse("patient_detail", args=[patient.pk]),
        "session_book": reverse("session_book", args=[patient.pk]),
        "session_detail": reverse("session_detail", args=[session.pk]),
        "session_detail_amended": reverse("session_detail", args=[amended.pk]),
        "session_amend": reverse("session_amend", args=[amended.pk]),
        "patient_export": reverse("patient_export", args=[patient.pk]),
        "patient_export_json": reverse("patient_export_json", args=[patient.pk]),
        "patient_history": reverse("patient_history", args=[patient.pk]),
        "session_history": reverse("session_history", args=[session.pk]),
        "follow_up_review": reverse("follow_up_review") + "?status=all",
        "failed_reminders": reverse("failed_reminders"),
    }


def count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.fixture
def measured(clinic_admin_client, django_db_blocker):
    """Query counts of every page at size 2, then at size 5 (more of everything), as served
    between two of beat's recounts of the review's adherence (kept in the cache)."""
    recount_follow_up_adherence()
    patient = populate(2)
    small = {name: count(clinic_admin_client, url) for name, url in pages(patient).items()}
    patient = populate(5)
    large = {name: count(clinic_admin_client, url) for name, url in pages(patient).items()}
    return small, large, patient


def test_query_counts_do_not_grow_with_the_data(measured):
    small, large, _ = measured
    assert large == small


@pytest.mark.parametrize("name", MAX_QUERIES)
def test_query_ceilings(measured, clinic_admin_client, django_assert_max_num_queries, name):
    _, _, patient = measured
    url = pages(patient)[name]
    with django_assert_max_num_queries(MAX_QUERIES[name]):
        assert clinic_admin_client.get(url).status_code == 200


def test_the_data_really_grew(measured):
    _, _, patient = measured
    assert patient.sessions.count() == 6
