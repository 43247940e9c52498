"""Who looked: every read of a patient's record is logged with one INSERT (a CSV export:
one INSERT for all its patients), nothing else, and the log cannot be rewritten."""

import io
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from accounts import roles
from audit import web
from audit.models import AccessKind, RecordAccess
from tests.factories import PatientFactory, ProductLotFactory, UserFactory, at, book
from treatments import services
from treatments.models import FollowUpPhoto, FollowUpStatus

pytestmark = pytest.mark.django_db

TABLE = RecordAccess._meta.db_table


def photo():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    return SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png")


def treated(patient, *, shared=False):
    day = date(2026, 12, 1)
    session = book(patient, day, hour=9, now=at(day - timedelta(days=10)))
    services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=session.ends_at,
    )
    follow_up = session.follow_ups.get(kind="aftercare_check")
    services.record_follow_up(
        follow_up=follow_up,
        status=FollowUpStatus.DONE,
        recorded_by=session.clinician,
        shared_with_patient=shared,
        photos=[("top", photo())],
        now=at(follow_up.due_date),
    )
    return session


def get(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    inserts = [q["sql"] for q in ctx.captured_queries if f'INSERT INTO "{TABLE}"' in q["sql"]]
    return response, len(ctx.captured_queries), inserts


@pytest.fixture
def no_log(monkeypatch):
    """The pages with the log writer taken out: what they cost without it."""

    def off():
        monkeypatch.setattr(web, "record_access", lambda **kwargs: None)

    return off


def staff_pages(session):
    return [
        (reverse("patient_detail", args=[session.patient_id]), AccessKind.PATIENT_PAGE, None),
        (reverse("session_detail", args=[session.pk]), AccessKind.SESSION_PAGE, session.pk),
        (
            reverse("follow_up_photo", args=[FollowUpPhoto.objects.get().pk]),
            AccessKind.PHOTO,
            FollowUpPhoto.objects.get().pk,
        ),
    ]


def test_each_staff_read_is_one_insert_and_nothing_more(clinician_client, no_log):
    session = treated(PatientFactory())
    logged = {}
    for url, kind, object_id in staff_pages(session):
        response, queries, inserts = get(clinician_client, url)
        assert response.status_code == 200, url
        assert len(inserts) == 1, url
        logged[url] = queries
        row = RecordAccess.objects.latest("id")
        assert (row.kind, row.patient_id, row.object_id) == (kind, session.patient_id, object_id)
        assert (row.user_id, row.username) == (
            clinician_client.user.pk,
            clinician_client.user.username,
        )
        assert row.path == url and row.ip == "127.0.0.1"
    no_log()
    for url, _, _ in staff_pages(session):
        response, queries, inserts = get(clinician_client, url)
        assert inserts == []
        assert queries == logged[url] - 1, url  # the INSERT is the only extra query


def test_a_refused_or_missing_read_is_not_logged(staff_client, client):
    assert staff_client.get(reverse("patient_detail", args=[999999])).status_code == 404
    session = book(PatientFactory(), date(2027, 3, 10))
    assert client.get(reverse("patient_detail", args=[session.patient_id])).status_code == 302
    assert (
        staff_client.get(reverse("patient_history", args=[session.patient_id])).status_code == 403
    )
    assert not RecordAccess.objects.exists()


def test_a_csv_export_logs_each_patient_once_in_one_statement(clinic_admin_client):
    patients = [PatientFactory() for _ in range(3)]
    for patient in patients:
        treated(patient)
    book(patients[0], date(2027, 6, 10))  # a second session: still one row for the patient
    response, _, inserts = get(clinic_admin_client, reverse("follow_up_review_csv") + "?status=all")
    assert response.status_code == 200
    assert len(inserts) == 1
    rows = RecordAccess.objects.filter(kind=AccessKind.EXPORT)
    assert sorted(rows.values_list("patient_id", flat=True)) == sorted(p.pk for p in patients)
    assert {r.username for r in rows} == {clinic_admin_client.user.username}
    assert len({r.at for r in rows}) == 1


def test_an_empty_export_logs_nothing(clinic_admin_client):
    response, _, inserts = get(clinic_admin_client, reverse("follow_up_review_csv"))
    assert response.status_code == 200
    assert inserts == [] and not RecordAccess.objects.exists()


def test_the_portal_logs_what_the_patient_opens_of_their_own_record(frozen):
    patient = PatientFactory()
    session = treated(patient, shared=True)
    user = UserFactory(username=patient.email, role=roles.PATIENT)
    patient.user = user
    patient.save()
    client = Client()
    client.force_login(user)
    photo_pk = FollowUpPhoto.objects.get().pk
    for url in (
        reverse("portal_home"),
        reverse("portal_follow_ups"),
        reverse("portal_photo", args=[photo_pk]),
    ):
        response, _, inserts = get(client, url)
        assert response.status_code == 200
        assert len(inserts) == 1
    rows = list(RecordAccess.objects.order_by("id"))
    assert [r.kind for r in rows] == [AccessKind.PORTAL] * 3
    assert {r.patient_id for r in rows} == {patient.pk}
    assert rows[-1].object_id == photo_pk
    assert {r.username for r in rows} == {patient.email}
    # Another patient's photo is a 404, and not a read of anybody's record.
    other = treated(PatientFactory(), shared=True)
    assert other.patient_id != session.patient_id
    other_photo = FollowUpPhoto.objects.exclude(pk=photo_pk).get().pk
    assert client.get(reverse("portal_photo", args=[other_photo])).status_code == 404
    assert RecordAccess.objects.count() == 3


def test_the_log_is_append_only(clinician_client):
    session = book(PatientFactory(), date(2027, 3, 10))
    clinician_client.get(reverse("patient_detail", args=[session.patient_id]))
    row = RecordAccess.objects.get()
    with pytest.raises(DatabaseError, match="Cannot update or delete"):
        with transaction.atomic():
            RecordAccess.objects.filter(pk=row.pk).update(username="somebody else")
    with pytest.raises(DatabaseError, match="Cannot update or delete"):
        with transaction.atomic():
            RecordAccess.objects.filter(pk=row.pk).delete()
    assert RecordAccess.objects.get().username == clinician_client.user.username


def test_the_history_page_shows_who_looked(clinic_admin_client, clinician_client):
    session = book(PatientFactory(), date(2027, 3, 10))
    clinician_client.get(reverse("session_detail", args=[session.pk]))
    html = clinic_admin_client.get(
        reverse("patient_history", args=[session.patient_id])
    ).content.decode()
    assert clinician_client.user.username in html
    assert "Session page" in html
    html = clinic_admin_client.get(reverse("session_history", args=[session.pk])).content.decode()
    assert clinician_client.user.username in html


@pytest.mark.django_db
def test_reads_by_patient_have_one_index_the_ordered_one():
    """The history page's reads (newest first, 25 a page) come from record_access_patient_idx
    (patient, -at, -id) in its order. A plain patient index beside it (Django's default for a
    foreign key) was what PostgreSQL chose on statistics older than a busy patient's reads,
    reading and sorting all of them: at the bench, 39,104 reads for one page, 6.5 ms."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_recordaccess'"""
        )
        by_patient = [name for name, sql in cursor.fetchall() if "(patient_id" in sql]
    assert by_patient == ["record_access_patient_idx"]
