"""The per-request reads compiled once (accounts/prepared.py): the same rows and checks as
the querysets they replace, and the session read from the cache."""

import uuid
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles
from accounts.backends import ClinicModelBackend
from accounts.middleware import ClinicOTPMiddleware
from accounts.prepared import PreparedGet
from sites.models import Site
from treatments.models import Room

pytestmark = pytest.mark.django_db


def test_prepared_get_builds_what_the_orm_builds():
    user = User.objects.create_user("ada", password="x" * 14, first_name="Ada")
    read = PreparedGet(lambda pk: User.objects.filter(pk=pk))
    got = read.get(user.pk)
    assert got is not None and got.pk == user.pk
    assert got.first_name == "Ada" and got.password == user.password
    assert got.last_login == user.last_login and got._state.adding is False
    assert read.get(user.pk + 1000) is None
    # A second call sends the same one statement.
    with CaptureQueriesContext(connection) as ctx:
        assert read.get(user.pk).username == "ada"
    assert len(ctx.captured_queries) == 1


def test_backend_reads_user_with_roles_and_refuses_inactive():
    user = User.objects.create_user("reception", password="x" * 14)
    user.groups.add(Group.objects.get_or_create(name=roles.CLINIC_STAFF)[0])
    got = ClinicModelBackend().get_user(user.pk)
    assert got.pk == user.pk and roles.CLINIC_STAFF in roles.roles_of(got)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert ClinicModelBackend().get_user(user.pk) is None
    assert ClinicModelBackend().get_user(user.pk + 1000) is None


class _Request:
    def __init__(self, session):
        self.session = session


def _verified_device(user, persistent_id):
    middleware = ClinicOTPMiddleware(lambda request: None)
    request = _Request({DEVICE_ID_SESSION_KEY: persistent_id})
    return middleware._verify_user_sync(request, user).otp_device, request.session


def test_otp_device_read_keeps_django_otps_checks():
    user = User.objects.create_user("dr", password="x" * 14)
    other = User.objects.create_user("dr2", password="x" * 14)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    found, session = _verified_device(user, device.persistent_id)
    assert found == device and DEVICE_ID_SESSION_KEY in session
    # Another user's device, an unconfirmed one, a deleted one, a malformed id: not verified,
    # and the session forgets the device.
    for who, pid in [
        (other, device.persistent_id),
        (user, "otp_totp.totpdevice/not-a-number"),
        (user, "no_such_app.device/1"),
        (user, "auth.user/1"),
    ]:
        found, session = _verified_device(who, pid)
        assert found is None and DEVICE_ID_SESSION_KEY not in session
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=False)
    assert _verified_device(user, device.persistent_id)[0] is None
    TOTPDevice.objects.filter(pk=device.pk).delete()
    assert _verified_device(user, device.persistent_id)[0] is None


def test_signed_in_page_reads_its_session_from_the_cache(client, settings):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    user = User.objects.create_user("pat", password="x" * 14)
    client.force_login(user)
    client.get("/ping")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/accounts/password_change/")
    assert not any("django_session" in q["sql"] for q in ctx.captured_queries)


# --- PreparedValues: statements compiled once, with arguments in their places -----------------


def _booking_arguments(site, patient, doctor, room, start, *, key=None):
    from treatments import availability

    day = start.astimezone(site.tz).date()
    arguments = {
        "patient_id": patient.pk,
        "clinician_id": doctor.pk,
        "room_id": room.pk,
        "starts_at": start,
        "ends_at": start + timedelta(hours=1),
        **availability.arguments(site, day, day),
    }
    return arguments if key is None else {**arguments, "booking_key": key}


def test_prepared_statements_send_what_the_orm_compiles():
    """For several sets of arguments, the compiled-once statements are the ORM's own
    statement and parameters, and give its rows: the availability read and the booking's
    checks (with and without a booking key)."""
    from tests.factories import PatientFactory, RoomFactory, at, clinician
    from tests.test_scheduling import book, site, works
    from treatments import availability, services

    berlin = site()
    istanbul = site(name="Istanbul", zone="Europe/Istanbul", hours=((8, 12), (13, 18)))
    doctor = clinician(last_name="Meyer")
    works(doctor, berlin)
    room = RoomFactory(site=berlin)
    patient = PatientFactory()
    booked = book(patient, at(date(2027, 3, 10), 10), doctor, room)
    cases = [
        (berlin, date(2027, 3, 10), date(2027, 3, 10)),
        (berlin, date(2027, 3, 1), date(2027, 4, 30)),
        (istanbul, date(2028, 1, 1), date(2028, 1, 7)),
    ]
    for at_site, first, last in cases:
        arguments = availability.arguments(at_site, first, last)
        orm = (
            Site.objects.filter(pk=at_site.pk)
            .order_by()
            .values(**availability.as_annotations(**arguments))
        )
        assert availability._load.sql_with_params(**arguments) == (
            orm.query.sql_with_params()[0],
            list(orm.query.sql_with_params()[1]),
        )
        assert availability._load.rows(**arguments) == list(orm)
    key = uuid.uuid4()
    for start, key_or_none in [
        (booked.starts_at, None),
        (booked.starts_at + timedelta(minutes=30), booked.booking_key or key),
        (at(date(2027, 9, 15), 9), key),
    ]:
        arguments = _booking_arguments(berlin, patient, doctor, room, start, key=key_or_none)
        prepared = services._BOOKING_CHECKS_WITH_KEY if key_or_none else services._BOOKING_CHECKS
        orm = services._booking_checks_row(**arguments)
        sql, params = orm.query.sql_with_params()
        assert prepared.sql_with_params(**arguments) == (sql, list(params))
        assert prepared.rows(**arguments) == list(orm)
    # The first case clashes with the booked session and finds it among the patient's.
    (row,) = services._BOOKING_CHECKS.rows(
        **_booking_arguments(berlin, patient, doctor, room, booked.starts_at)
    )
    assert row["clinician_clash"] and row["room_clash"] and row["is_clinician"]
    assert [item["day"] for item in row["others"]] == ["2027-03-10"]


def test_prepared_values_refuses_an_argument_that_is_not_a_parameter():
    from accounts.prepared import PreparedValues

    read = PreparedValues(
        lambda pk, day: User.objects.filter(pk=pk).values("username"), pk=int, day=date
    )
    with pytest.raises(ValueError, match="day"):
        read.rows(pk=1, day=date(2026, 1, 1))
    by_day = PreparedValues(
        lambda pk, day: User.objects.filter(pk=pk, date_joined__date__gte=day).values("id"),
        pk=int,
        day=date,
    )
    user = User.objects.create_user("joined", password="x" * 14)
    assert by_day.rows(pk=user.pk, day=date(2000, 1, 1)) == [{"id": user.pk}]
    assert by_day.rows(pk=user.pk, day=date(2999, 1, 1)) == []
    assert by_day.rows(pk=user.pk + 1, day=date(2000, 1, 1)) == []


def test_slot_finder_reads_are_the_orms():
    """The finder's compiled-once reads: the ORM's statements and parameters, and its rows
    or instances in its order."""
    from tests.factories import PatientFactory, RoomFactory, at, clinician
    from tests.test_scheduling import book, site, works
    from treatments import slots
    from treatments.selectors import BOOKED_DAYS, booked_days, clinicians, live_booked_days

    berlin = site()
    doctors = [
        clinician(last_name=name, first_name=first)
        for name, first in [("Meyer", "Ute"), ("Adler", "Kai"), ("Meyer", "Ann"), ("Zorn", "")]
    ]
    for doctor in doctors:
        works(doctor, berlin)
    rooms = [RoomFactory(site=berlin, name=name) for name in ("Room 2", "Room 1", "Annex")]
    RoomFactory(site=berlin, name="Closed", is_active=False)
    RoomFactory(site=site(name="Other"), name="Elsewhere")
    patient = PatientFactory()
    booked = book(patient, at(date(2027, 3, 10), 10), doctors[0], rooms[0])
    assert BOOKED_DAYS.rows(patient_id=patient.pk) == list(booked_days(patient.pk))
    assert BOOKED_DAYS.rows(patient_id=patient.pk) == [
        {"local_date": date(2027, 3, 10), "gap_months": booked.gap_months}
    ]
    assert live_booked_days(patient.pk) == [booked.as_booked_day()]
    assert BOOKED_DAYS.rows(patient_id=PatientFactory().pk) == []
    orm_rooms = list(Room.objects.filter(site=berlin, is_active=True).order_by("name"))
    assert slots._ROOMS.all(berlin.pk) == orm_rooms
    assert [r.name for r in slots._ROOMS.all(berlin.pk)] == ["Annex", "Room 1", "Room 2"]
    # The rows the finder keeps, each made an instance only when a slot needs it.
    room_rows = slots._ROOMS.rows(berlin.pk)
    assert [slots._ROOMS.pk_of(row) for row in room_rows] == [r.pk for r in orm_rooms]
    made = [slots._ROOMS.instance(row) for row in room_rows]
    assert made == orm_rooms and [r.site_id for r in made] == [berlin.pk] * 3
    orm_doctors = list(clinicians().order_by("last_name", "first_name", "username"))
    got = slots._DOCTORS.all()
    assert got == orm_doctors and [d.get_full_name() for d in got] == [
        d.get_full_name() for d in orm_doctors
    ]
    bounds = {
        "starts_after": at(date(2027, 3, 9), 0),
        "starts_before": at(date(2027, 3, 12), 0),
        "ends_after": at(date(2027, 3, 10), 0),
    }
    sql, params = slots._busy_rows(**bounds).query.sql_with_params()
    assert slots._BUSY_ROWS.sql_with_params(**bounds) == (sql, list(params))
    assert [(row["clinician_id"], row["room_id"]) for row in slots._BUSY_ROWS.rows(**bounds)] == [
        (doctors[0].pk, rooms[0].pk)
    ]
    later = {**bounds, "ends_after": at(date(2027, 3, 10), 11)}
    assert slots._BUSY_ROWS.rows(**later) == []


def test_protocol_in_force_read_compiled_once_is_the_orms():
    from treatments.models import ProtocolVersion

    first = ProtocolVersion.objects.order_by("effective_from", "id").first()
    assert first is not None
    later = ProtocolVersion.objects.create(
        name="Later", effective_from=first.effective_from + timedelta(days=100), gap_months=7
    )
    same_day = ProtocolVersion.objects.create(
        name="Same day", effective_from=later.effective_from, gap_months=8
    )
    for day, expected in [
        (first.effective_from, first),
        (later.effective_from - timedelta(days=1), first),
        (later.effective_from, same_day),  # the newest id of that day
        (later.effective_from + timedelta(days=900), same_day),
    ]:
        got = ProtocolVersion.objects.in_force_on(day)
        assert got == expected and got.gap_months == expected.gap_months
        # The same answer as the ORM's read of a filtered queryset.
        assert ProtocolVersion.objects.filter(gap_months__gte=1).in_force_on(day) == expected
    with pytest.raises(ProtocolVersion.DoesNotExist):
        ProtocolVersion.objects.in_force_on(first.effective_from - timedelta(days=1))
    # A filtered queryset is asked with its filter.
    assert (
        ProtocolVersion.objects.filter(gap_months=7).in_force_on(
            later.effective_from + timedelta(days=1)
        )
        == later
    )


def test_the_patient_pages_reads_are_what_the_orms_prefetch_reads():
    """treatments.selectors.patient_page reads the patient's sessions, follow-ups, vials and
    photos by statements compiled once and puts them together as prefetch_related would:
    the same instances, fields, annotation and order, and no query more when the page's
    template walks them; another patient's rows never come along."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db.models import Prefetch
    from PIL import Image

    from tests.factories import PatientFactory, ProductLotFactory, at, book, reconfirm
    from treatments import selectors, services
    from treatments.models import FollowUp, FollowUpPhoto, PhotoView, SessionVial

    def treated(first_day):
        patient = PatientFactory()
        first = book(patient, first_day, hour=9, now=at(first_day - timedelta(days=10)))
        reconfirm(patient, at=first.starts_at)
        services.complete_session(
            session=first,
            vials=[(ProductLotFactory(), 1), (ProductLotFactory(), 2)],
            completed_by=first.clinician,
            now=first.ends_at,
        )
        later = first_day + timedelta(days=400)
        book(patient, later, hour=10, now=at(later - timedelta(days=30)))
        return patient, first

    patient, first = treated(date(2026, 1, 12))
    treated(date(2026, 1, 13))  # another patient's rows
    follow_up = first.follow_ups.order_by("due_date").first()
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    FollowUpPhoto.objects.create(
        follow_up=follow_up,
        view=PhotoView.TOP,
        image=SimpleUploadedFile("top.png", png.getvalue()),
        uploaded_by=first.clinician,
    )
    ormed = list(
        patient.sessions.select_related("clinician", "room", "site", "protocol")
        .prefetch_related(
            Prefetch("follow_ups", queryset=FollowUp.objects.prefetch_related("photos")),
            Prefetch("vials_used", queryset=SessionVial.objects.select_related("lot")),
        )
        .annotate(previous_assessed=selectors._previous_assessed())
        .order_by("-starts_at")
    )
    page = selectors.patient_page(patient, today=date(2027, 3, 1), now=at(date(2027, 3, 1)))

    def shape(sessions):
        return [
            (
                s.pk,
                s.status,
                s.clinician.username,
                s.room.name,
                s.site.pk,
                s.protocol.pk,
                s.previous_assessed,
                [
                    (f.pk, f.kind, f.status, [p.pk for p in f.photos.all()])
                    for f in s.follow_ups.all()
                ],
                sorted((v.pk, v.vials, v.lot.lot_number) for v in s.vials_used.all()),
            )
            for s in sessions
        ]

    assert shape(page.sessions) == shape(ormed)
    assert len(page.sessions) == 2 and any(f[3] for s in shape(page.sessions) for f in s[7])
    with CaptureQueriesContext(connection) as walked:
        shape(page.sessions)
    assert walked.captured_queries == []


def test_the_patient_pages_other_reads_are_the_orms():
    """The patient page's other reads compiled once (issue 18) give what the querysets they
    replace give, for the patient and never another's: the record by id, its changes, the
    newest intake with its lines and reconfirmations, the side effects and change requests
    in the page's treatments.selectors.patient_page, the reminders with their delivery
    attempts (reminders.selectors.for_patient); and walking what they prefetched reads no
    more."""
    from django.utils import timezone

    from patients import intake
    from patients.models import PatientChange
    from patients.selectors import patient_by_id, patient_changes
    from patients.services import update_patient
    from reminders import selectors as reminder_selectors
    from reminders.models import DeliveryAttempt, Reminder
    from tests.factories import (
        PatientFactory,
        at,
        book,
        clinician,
        pending_intake,
        reconfirm,
        staff,
    )
    from treatments import selectors
    from treatments.models import ChangeRequest, SideEffectReport, TreatmentSession

    patient, other = PatientFactory(), PatientFactory()
    for someone in (patient, other):
        first = pending_intake(someone)
        intake.review_intake(version=first, reviewed_by=clinician())
        pending_intake(someone, goals="More")
        reconfirm(someone, at=timezone.now())
        reconfirm(someone, at=timezone.now() + timedelta(seconds=1))
        update_patient(patient=someone, changed_by=staff(), data={"phone": "+49 30 1234567"})
        update_patient(patient=someone, changed_by=staff(), data={"first_name": "Ana"})
        session = book(someone, date(2027, 3, 10 if someone is patient else 11))
        SideEffectReport.objects.create(patient=someone, session=session, description="Itch")
        SideEffectReport.objects.create(patient=someone, description="Red", resolved_by=staff())
        ChangeRequest.objects.create(patient=someone, session=session, kind="cancel")
        for n, reminder in enumerate(Reminder.objects.filter(session=session)):
            for k in range(n % 3):
                DeliveryAttempt.objects.create(
                    reminder=reminder, succeeded=bool(k), attempted_at=at(date(2027, 3, 1), k)
                )
    assert patient_by_id(patient.pk) == patient and patient_by_id(2**63) is None
    assert patient_by_id(max(patient.pk, other.pk) + 1) is None

    def fields(rows):
        """Each row's column values (not its instance state or prefetched relations)."""
        return [{k: v for k, v in vars(row).items() if not k.startswith("_")} for row in rows]

    orm_changes = PatientChange.objects.filter(patient=patient).select_related("changed_by")
    changes = patient_changes(patient)
    assert fields(changes) == fields(orm_changes.order_by("-changed_at", "-id"))
    assert [c.changed_by.username for c in changes] == [c.changed_by.username for c in orm_changes]

    newest = intake.newest_version(patient)
    orm_newest = patient.intake_versions.order_by("-number").first()
    assert newest.pk == orm_newest.pk and newest.reviewed_by_id == orm_newest.reviewed_by_id
    with CaptureQueriesContext(connection) as walked:
        lines = [(m.pk, m.name) for m in newest.medications.all()]
        confirmed = [r.pk for r in newest.reconfirmations.all()]
    assert walked.captured_queries == []
    assert lines == [(m.pk, m.name) for m in orm_newest.medications.all()] and lines
    assert confirmed == list(
        orm_newest.reconfirmations.order_by("-confirmed_at", "-id").values_list("pk", flat=True)
    )
    assert len(confirmed) == 2

    desk, doctor = staff(first_name="Desk"), clinician(first_name="Doc")
    cancelled, missed = book(patient, date(2027, 9, 20)), book(patient, date(2028, 4, 3))
    TreatmentSession.objects.filter(pk=cancelled.pk).update(
        status="cancelled", cancelled_by=desk, cancellation_reason="Ill"
    )
    TreatmentSession.objects.filter(pk=missed.pk).update(
        status="no_show", no_show_recorded_by=doctor
    )
    page = selectors.patient_page(patient, today=date(2027, 3, 1), now=at(date(2027, 3, 1)))
    with CaptureQueriesContext(connection) as walked:
        people = {
            s.pk: (
                s.cancelled_by and s.cancelled_by.first_name,
                s.no_show_recorded_by_id and s.no_show_recorded_by.first_name,
            )
            for s in page.sessions
        }
    assert walked.captured_queries == []
    expected = dict.fromkeys(patient.sessions.values_list("pk", flat=True), (None, None))
    assert people == {**expected, cancelled.pk: ("Desk", None), missed.pk: (None, "Doc")}
    assert fields(page.side_effect_reports) == fields(
        patient.side_effect_reports.filter(resolved_at__isnull=True)
    )
    assert fields(page.change_requests) == fields(
        patient.change_requests.filter(handled_at__isnull=True)
    )
    assert [c.session.site.pk for c in page.change_requests] == [session.site_id for _ in "x"]

    reminders = reminder_selectors.for_patient(patient)
    orm = Reminder.objects.filter(session__patient=patient).order_by("-due_at", "-id")
    assert fields(reminders) == fields(orm)
    with CaptureQueriesContext(connection) as walked:
        attempts = [[(a.pk, a.succeeded) for a in r.deliveries.all()] for r in reminders]
    assert walked.captured_queries == []
    assert attempts == [[(a.pk, a.succeeded) for a in r.deliveries.all()] for r in orm]
    assert sum(map(len, attempts)) > 2


def test_prepared_values_names_columns_in_the_order_values_was_given_them():
    """An annotation before a field in values(): the columns are named as the ORM's own
    rows name them (a mislabelled column would give the page another field's value)."""
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    from accounts.prepared import PreparedValues

    user = User.objects.create_user("order", first_name="Ada", last_name="Lovelace")

    def build(pk):
        return (
            User.objects.filter(pk=pk)
            .values(full=Concat(F("first_name"), Value(" "), F("last_name")), name=F("username"))
            .values("full", "last_name", "name", "pk")
        )

    read = PreparedValues(build, pk=int)
    assert read.rows(pk=user.pk) == list(build(user.pk))
    assert read.rows(pk=user.pk) == [
        {"full": "Ada Lovelace", "last_name": "Lovelace", "name": "order", "pk": user.pk}
    ]


def test_the_history_pages_reads_are_the_orms():
    """The history page's record and first page of who looked (frontdesk.views.history),
    compiled once: the ORM's statements, parameters and rows."""
    from audit.models import AccessKind, RecordAccess
    from audit.selectors import reads_of_patient, reads_of_session
    from frontdesk.views import history
    from patients.selectors import patient_by_id
    from tests.factories import PatientFactory, book

    session = book(PatientFactory(), date(2027, 3, 10))
    patient = session.patient
    for i in range(history.PER_PAGE + 3):
        RecordAccess.objects.create(
            username=f"u{i}",
            patient_id=patient.pk,
            kind=[AccessKind.HISTORY, AccessKind.SESSION_PAGE, AccessKind.PATIENT_PAGE][i % 3],
            object_id=session.pk if i % 3 != 2 else None,
            path=f"/p/{i}/",
            ip="10.0.0.1" if i % 2 else None,
        )
    columns = history._READ_COLUMNS
    first = history.PER_PAGE + 1
    cases = [
        (history._FIRST_PATIENT_READS, {"patient_id": patient.pk}, reads_of_patient),
        (
            history._FIRST_SESSION_READS,
            {"patient_id": patient.pk, "session_id": session.pk},
            reads_of_session,
        ),
    ]
    for prepared, ids, orm_reads in cases:
        orm = orm_reads(**ids).values(*columns)[:first]
        sql, params = orm.query.sql_with_params()
        assert prepared.sql_with_params(**ids) == (sql, list(params))
        assert prepared.rows(**ids) == list(orm)
    assert len(history._FIRST_PATIENT_READS.rows(patient_id=patient.pk)) == first
    assert history._FIRST_PATIENT_READS.rows(patient_id=patient.pk + 1000) == []
    with CaptureQueriesContext(connection) as ctx:  # the session with its patient
        got = history._read_session.get(session.pk)
        assert got == session and got.patient == patient and got.patient.full_name
    assert len(ctx.captured_queries) == 1
    assert patient_by_id(patient.pk) == patient
    assert patient_by_id(patient.pk + 1000) is None and patient_by_id(2**63) is None


def test_the_follow_up_reviews_reads_are_the_orms():
    """The review's first page (a statement compiled once for each shape of filter) and its
    three counts send the ORM's statements and parameters and give its rows, whatever the
    status, kind, clinician and days; a later page is the ORM's own read."""
    from tests.factories import PatientFactory, at, book, complete, reconfirm
    from treatments import selectors
    from treatments.models import FollowUp, FollowUpKind

    def treated(first_day, hour):
        session = book(
            PatientFactory(), first_day, hour=hour, now=at(first_day - timedelta(days=9))
        )
        reconfirm(session.patient, at=session.starts_at)
        return complete(session)

    first = treated(date(2026, 1, 12), 9)
    treated(date(2026, 2, 3), 11)
    FollowUp.objects.filter(pk=first.follow_ups.order_by("due_date").first().pk).update(
        status="done", seen_on=date(2026, 1, 20), seen_by=first.clinician
    )
    assert FollowUp.objects.count() > 4
    today = date(2026, 6, 1)
    first_page = slice(0, selectors.REVIEW_PAGE_SIZE + 1)
    shapes = [{"status": status} for status in (*selectors.REVIEW_STATUSES, "bogus")] + [
        {"status": "all", "kind": FollowUpKind.ASSESSMENT},
        {"status": "overdue", "clinician_id": first.clinician_id},
        {"status": "all", "date_from": date(2026, 2, 1), "date_to": date(2026, 9, 30)},
        {
            "status": "week",
            "kind": FollowUpKind.EARLY_RESULT,
            "clinician_id": first.clinician_id,
            "date_from": date(2026, 1, 1),
        },
    ]
    for day in (today, date(2026, 1, 25), date(2026, 3, 15)):
        for shape in shapes:
            filters = {"kind": "", **shape, "today": day}
            status = filters["status"] if filters["status"] in selectors.REVIEW_STATUSES else "all"
            arguments = {
                name: value
                for name, value in {
                    "today": day,
                    "week_end": selectors._week_end(day) if status == "week" else None,
                    "clinician_id": filters.get("clinician_id"),
                    "date_from": filters.get("date_from"),
                    "date_to": filters.get("date_to"),
                }.items()
                if value is not None
            }
            orm = selectors.follow_up_review(**filters).values(*selectors.REVIEW_ROW_FIELDS)
            sql, params = orm[first_page].query.sql_with_params()
            prepared = selectors._review_slice(
                status, filters["kind"], tuple(arguments), first_page.start, first_page.stop
            )
            assert prepared.sql_with_params(**arguments) == (sql, list(params)), shape
            sql, params = orm[1:3].query.sql_with_params()
            later = selectors._review_slice(status, filters["kind"], tuple(arguments), 1, 3)
            assert later.sql_with_params(**arguments) == (sql, list(params)), shape
            rows = selectors.ReviewRows(
                today=day,
                status=filters["status"],
                kind=filters["kind"],
                clinician_id=filters.get("clinician_id"),
                date_from=filters.get("date_from"),
                date_to=filters.get("date_to"),
            )
            assert rows.read(0, first_page.stop) == list(orm[first_page]), shape
            assert rows.read(1, 3) == list(orm[1:3]), shape
        counts = selectors.follow_up_counts(today=day, now=at(day))
        planned = FollowUp.objects.filter(status="planned")
        assert counts["overdue"] == planned.filter(due_date__lt=day).count()
        assert (
            counts["due_this_week"]
            == planned.filter(due_date__gte=day, due_date__lte=selectors._week_end(day)).count()
        )
        assert counts["due_now"] == planned.filter(due_from__lte=day, due_until__gte=day).count()
    overdue = (
        FollowUp.objects.order_by().overdue(today).values("due_date")[: selectors.COUNT_CAP + 1]
    )
    sql, params = overdue.query.sql_with_params()
    assert selectors._COUNTED["overdue"].sql_with_params(today=today) == (sql, list(params))


def _fields(instance) -> dict:
    """An instance's field values, with each value's type (an instant's zone too); a
    deferred field's not (reading it would be a query), but its name, as deferred."""
    deferred = instance.get_deferred_fields()
    values = {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in deferred
    }
    values.update({name: "deferred" for name in deferred})
    return {
        name: (value, type(value), getattr(value, "tzinfo", None)) for name, value in values.items()
    }


def test_json_rows_make_the_orms_instances():
    """JsonRows: the instances made from a row read as JSON are the ORM's, value for value
    and type for type (an instant in UTC as the driver gives it, a missing one None)."""
    from accounts.prepared import JsonRows
    from tests.factories import RoomFactory, clinician

    signed_in = clinician(first_name="Ada", last_name="Lovelace", email="ada@example.org")
    User.objects.filter(pk=signed_in.pk).update(last_login=timezone.now())
    never = clinician(first_name="", last_name="Zorn")
    room = RoomFactory(name="Room 7")
    for model, pks in ((User, [signed_in.pk, never.pk]), (Room, [room.pk])):
        rows = JsonRows(model)
        queryset = model.objects.filter(pk__in=pks).order_by("pk")
        column = model.objects.filter(pk=pks[0]).values_list(rows.array(queryset), flat=True)[0]
        made = [rows.instance(row) for row in rows.rows(column)]
        orm = list(queryset)
        assert [rows.pk_of(row) for row in rows.rows(column)] == pks
        assert [_fields(m) for m in made] == [_fields(o) for o in orm]
        assert all(m._state.adding is False and m._state.db == "default" for m in made)
    assert made[0].site_id == room.site_id


def test_json_rows_of_some_fields_make_the_orms_only_instances():
    """JsonRows(only=...): the instances have the fields read, as `.only()`'s do, and defer
    the others; the fields are named in any order, the id among them."""
    from accounts.prepared import JsonRows
    from tests.factories import clinician

    ada = clinician(first_name="Ada", last_name="Lovelace", email="ada@example.org")
    fields = ("last_name", "id", "is_active", "username", "first_name")
    rows = JsonRows(User, only=fields)
    queryset = User.objects.filter(pk=ada.pk)
    column = queryset.values_list(rows.array(queryset), flat=True)[0]
    [made] = [rows.instance(row) for row in rows.rows(column)]
    [orm] = queryset.only(*fields)
    with CaptureQueriesContext(connection) as ctx:
        assert _fields(made) == _fields(orm)
    assert not ctx.captured_queries
    assert made.get_deferred_fields() == orm.get_deferred_fields() != set()
    assert "password" in made.get_deferred_fields()
    with pytest.raises(ValueError, match="The id"):
        JsonRows(User, only=("username",))
    with pytest.raises(ValueError, match="nickname"):
        JsonRows(User, only=("id", "nickname"))


def test_the_slot_finders_one_statement_reads_what_its_queries_read():
    """The finder's statement (PostgreSQL): the availability, the rooms, the clinicians and
    the busy times that availability.load, _ROOMS, _DOCTORS and _busy_times read apart."""
    from datetime import timedelta as days

    from tests.factories import PatientFactory, RoomFactory, at, clinician
    from tests.test_scheduling import book, site, works
    from treatments import availability, slots

    berlin = site()
    doctors = [clinician(last_name=name) for name in ("Meyer", "Adler", "Zorn")]
    for doctor in doctors[:2]:
        works(doctor, berlin)
    rooms = [RoomFactory(site=berlin, name=name) for name in ("Room 2", "Room 1")]
    for n in range(4):
        book(PatientFactory(), at(date(2027, 3, 8 + n), 10), doctors[n % 2], rooms[n % 2])
    first, last = date(2027, 3, 8), date(2027, 3, 14)
    week = [first + days(n) for n in range(7)]
    with CaptureQueriesContext(connection) as ctx:
        loaded = slots._load(berlin, first, last, week, days(hours=1), [])
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 4)
    assert loaded.available == availability.load(berlin, first, last)
    assert [loaded.room(row) for _, row in loaded.rooms] == slots._ROOMS.all(berlin.pk)
    assert [pk for pk, _ in loaded.rooms] == [rooms[1].pk, rooms[0].pk]
    assert [_fields(loaded.doctor(row)) for _, row in loaded.doctors] == [
        _fields(d) for d in slots._DOCTORS.all()
    ]
    assert loaded.busy == slots._busy_times(first, last, berlin.tz, days(hours=1), [])
    assert loaded.busy.clinicians and loaded.busy.rooms
    # Moving a session (`ignoring`): its busy times are read apart, without it.
    moving = slots._load(berlin, first, last, week, days(hours=1), [1])
    assert moving.busy is None and moving.available == loaded.available
    assert [pk for pk, _ in moving.doctors] == [pk for pk, _ in loaded.doctors]
    nothing = slots._load(
        berlin, date(2030, 1, 7), date(2030, 1, 7), [date(2030, 1, 7)], days(hours=1), []
    )
    assert nothing.busy == slots.BusyTimes({}, {})


def test_read_options_reads_each_fields_options_in_one_statement():
    """ui.forms.read_options: the booking form's clinician and room options, in one query,
    as each field reads them itself (its source's rows, in its order)."""
    from frontdesk.forms import BookingForm
    from tests.factories import RoomFactory, clinician
    from ui.forms import read_options

    for name, first in [("Meyer", "Ute"), ("Adler", "Kai"), ("Meyer", "Ann"), ("", "")]:
        clinician(last_name=name, first_name=first)
    for name, active in [("Room 2", True), ("Annex", True), ("Off", False)]:
        RoomFactory(name=name, is_active=active)
    own = BookingForm()
    # Iterated as the widget iterates them (list() would ask their len(): a COUNT).
    expected = {name: [*iter(own.fields[name].choices)] for name in ("clinician", "room")}
    form = BookingForm()
    with CaptureQueriesContext(connection) as ctx:
        read_options(form, "clinician", "room")
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 0)
    with CaptureQueriesContext(connection) as ctx:
        got = {name: [*iter(form.fields[name].choices)] for name in ("clinician", "room")}
    assert got == expected and len(got["clinician"]) == 5 and len(got["room"]) == 3
    if connection.vendor == "postgresql":
        assert ctx.captured_queries == []
    # Another form reads its own again (the rows belong to one form).
    assert BookingForm().fields["clinician"].option_rows is None


def test_booked_days_and_the_protocol_in_one_statement_are_the_orms():
    """The booking page's first read (PostgreSQL: one statement): live_booked_days and the
    version ProtocolVersion.objects.in_force_on gives, field for field; None when no version
    is in force (the finder then reads it and says so)."""
    from tests.factories import PatientFactory, RoomFactory, at, clinician
    from tests.test_scheduling import book, site, works
    from treatments.models import ProtocolVersion
    from treatments.selectors import live_booked_days, live_booked_days_and_protocol

    first = ProtocolVersion.objects.order_by("effective_from", "id").first()
    assert first is not None
    later = ProtocolVersion.objects.create(
        name="Later", effective_from=first.effective_from + timedelta(days=100), gap_months=7
    )
    berlin = site()
    patient, doctor, room = PatientFactory(), clinician(), RoomFactory(site=berlin)
    works(doctor, berlin)
    book(patient, at(date(2027, 3, 10), 10), doctor, room)
    book(patient, at(date(2028, 3, 10), 10), doctor, room)
    postgres = connection.vendor == "postgresql"
    for day in (first.effective_from, later.effective_from + timedelta(days=1)):
        with CaptureQueriesContext(connection) as ctx:
            booked, protocol = live_booked_days_and_protocol(patient.pk, day=day)
        assert len(ctx.captured_queries) == 1
        assert sorted(booked, key=lambda b: b.day) == sorted(
            live_booked_days(patient.pk), key=lambda b: b.day
        )
        assert len(booked) == 2
        if postgres:
            assert _fields(protocol) == _fields(ProtocolVersion.objects.in_force_on(day))
            assert protocol._state.adding is False
        else:
            assert protocol is None
    before_any = first.effective_from - timedelta(days=1)
    booked, protocol = live_booked_days_and_protocol(patient.pk, day=before_any)
    assert protocol is None and len(booked) == 2
    assert live_booked_days_and_protocol(PatientFactory().pk, day=first.effective_from)[0] == []


def _rooms_of_site(site_id):
    return Room.objects.filter(site_id=site_id).order_by("name", "id").values("id", "name")


def test_a_slice_is_compiled_once_and_reads_the_orms_rows(django_assert_num_queries):
    """accounts.prepared.sliced: one statement a slice, kept for the process, with the
    ORM's SQL and rows for that slice (LIMIT and OFFSET are numbers in Django's SQL)."""
    from accounts.prepared import sliced
    from tests.factories import RoomFactory

    site = RoomFactory().site  # the default site
    for _ in range(4):
        RoomFactory()
    second = sliced(_rooms_of_site, 2, 4, site_id=int)
    assert sliced(_rooms_of_site, 2, 4, site_id=int) is second
    assert sliced(_rooms_of_site, 0, 2, site_id=int) is not second
    sql, params = _rooms_of_site(site.pk)[2:4].query.sql_with_params()
    assert second.sql_with_params(site_id=site.pk) == (sql, list(params))
    orm = list(_rooms_of_site(site.pk)[2:4])
    with django_assert_num_queries(1):
        read = second.rows(site_id=site.pk)
    assert read == orm and len(orm) == 2
