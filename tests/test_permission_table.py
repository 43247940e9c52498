"""README's "Who may do what" is the truth, for every role.

The table is parsed from README.md. For each role it must (a) be `ROLE_PERMISSIONS` exactly,
and (b) hold when each action is tried for real: the page or service behind each row lets
the role through (anything but 403) when the table says "yes", and refuses it (403, a
PermissionDenied, or the back office's sign-in page) when it says "–". A permission added to
a role without a row, a row without a walk, or a page guarded by the wrong permission fails.
"""

import re
from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import roles
from consents.models import Consent, ConsentVersion
from patients import intake as patient_intake
from patients import services as patient_services
from reminders import services as reminder_services
from reminders.models import InboundMessage
from sites.models import ClinicianAbsence, WorkingHours
from tests.factories import (
    PatientFactory,
    ProductLotFactory,
    RoomFactory,
    UserFactory,
    at,
    book,
    pending_intake,
)
from tests.test_query_counts import photo
from treatments import services
from treatments.merges import merge_patients
from treatments.models import (
    ChangeRequest,
    FollowUpPhoto,
    ProtocolVersion,
    RoomOutOfService,
    SideEffectReport,
    TreatmentSession,
)
from treatments.models import FollowUp as FollowUpModel

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parent.parent / "README.md"
COLUMNS = {
    "reception": roles.CLINIC_STAFF,
    "clinician": roles.CLINICIAN,
    "clinic admin": roles.CLINIC_ADMIN,
    "patient": roles.PATIENT,
}


def permission_table() -> list[tuple[str, tuple[str, ...], dict[str, bool]]]:
    """(action, permissions, {role: allowed}) for every row of the README's table."""
    text = README.read_text()
    section = text.split("### Who may do what", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["action", "permission"], header
    assert set(header[2:]) == set(COLUMNS), header
    rows = []
    for line in lines[2:]:  # after the header and its |---| line
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header):  # a row that ends the table (the next one) cannot
            break  # have the same shape and the same header: the table is contiguous
        permissions = tuple(re.findall(r"`([a-z_]+\.[a-z_]+)`", cells[1]))
        assert permissions, line
        marks = dict(zip(header[2:], cells[2:], strict=True))
        assert set(marks.values()) <= {"yes", "–"}, line
        rows.append((cells[0], permissions, {COLUMNS[c]: m == "yes" for c, m in marks.items()}))
    return rows


TABLE = permission_table()


def test_the_table_is_role_permissions_exactly():
    listed = [p for _, permissions, _ in TABLE for p in permissions]
    assert len(listed) == len(set(listed)), "a permission on two rows"
    for role in COLUMNS.values():
        granted = {p for _, permissions, marks in TABLE if marks[role] for p in permissions}
        assert granted == set(roles.ROLE_PERMISSIONS[role]), role
    every = set(roles.ROLE_PERMISSIONS[roles.CLINIC_ADMIN])  # the admin holds each one
    assert set(listed) == every
    for dotted in listed:  # and each names a real permission
        app_label, codename = dotted.split(".")
        assert Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).exists(), dotted


# --- The walk: each row's real page or service, as the given user -----------------------------


class World:
    """What the walks act on: a booked session (open), a held session with a recorded
    follow-up and a photo, a side-effect report, a change request, a lot, a room."""

    def __init__(self):
        self.session = book(day=date(2027, 3, 10))
        self.patient = self.session.patient
        self.planned_follow_up = self.session.follow_ups.first()
        self.reminder = self.session.reminders.first()
        earlier = book(day=date(2026, 10, 1), now=at(date(2026, 9, 20)))
        held = services.complete_session(
            session=earlier,
            vials=[(ProductLotFactory(), 1)],
            completed_by=earlier.clinician,
            now=earlier.ends_at,
        )
        check = held.follow_ups.get(kind="aftercare_check")
        self.recorded = services.record_follow_up(
            follow_up=check,
            status="done",
            recorded_by=held.clinician,
            notes="Healing well",
            hair_density_per_cm2=Decimal("120.0"),
            photos=[("top", photo())],
            now=at(date(2026, 10, 8)),
        )
        self.completed = held
        self.photo = FollowUpPhoto.objects.get(follow_up=self.recorded)
        self.report = SideEffectReport.objects.create(patient=self.patient, description="itch")
        self.change = ChangeRequest.objects.create(
            patient=self.patient, session=self.session, kind="cancel"
        )
        self.lot = ProductLotFactory()
        # The held session's lot, recalled: its report, CSV and one recipient to phone.
        self.recall = reminder_services.start_recall(
            lot=held.vials_used.get().lot,
            message="{product} lot {lot} is recalled.",
            actor=UserFactory(role=roles.CLINIC_ADMIN),
        )
        self.recall_recipient = self.recall.recipients.get()
        self.room = RoomFactory()
        self.outage = RoomOutOfService.objects.create(
            room=self.room, starts_at=at(date(2027, 5, 1)), ends_at=at(date(2027, 5, 2))
        )
        self.working_hours = WorkingHours.objects.create(
            site=self.room.site,
            clinician=self.session.clinician,
            weekday=0,
            opens=time(9),
            closes=time(17),
        )
        self.absence = ClinicianAbsence.objects.create(
            clinician=self.session.clinician,
            starts_at=at(date(2027, 5, 1)),
            ends_at=at(date(2027, 5, 2)),
        )
        self.protocol = ProtocolVersion.objects.first()
        self.consent_version = ConsentVersion.objects.filter(published_at__isnull=False).first()
        self.inbound = InboundMessage.objects.create(
            provider_message_id="SM" + "0" * 32, from_number="+491705550000", kind="message"
        )


class Walker:
    def __init__(self, user: User, world: World):
        self.user, self.world = user, world
        self.client = Client()
        self.client.force_login(user)

    # Each returns True when allowed, False when refused, and fails on anything else.
    def page(self, name, *args, method="get") -> bool:
        response = getattr(self.client, method)(reverse(name, args=args))
        assert response.status_code != 500, name
        return response.status_code != 403

    def back_office(self, path) -> bool:
        response = self.client.get(path)
        if response.status_code == 302 and response["Location"].startswith(reverse("admin:login")):
            return False  # the site itself refuses: its own sign-in page
        assert response.status_code in (200, 403), (path, response.status_code)
        return response.status_code == 200

    def service(self, act: Callable[[], object]) -> bool:
        try:
            with transaction.atomic():
                act()
                transaction.set_rollback(True)  # the next role meets the same world
        except PermissionDenied:
            return False
        return True

    def all_of(self, *outcomes: bool) -> bool:
        """Several pages behind one row answer alike (the walk fails on a split)."""
        assert len(set(outcomes)) == 1, outcomes
        return outcomes[0]


def _portal_login(patient) -> None:
    user = User.objects.create_user(username=patient.email.lower(), email=patient.email)
    user.set_password("Tr1cky-pass-9")
    user.save()
    user.groups.add(roles_group(roles.PATIENT))
    patient.user = user
    patient.save(update_fields=["user"])


def roles_group(name):
    from django.contrib.auth.models import Group

    return Group.objects.get(name=name)


def _change_portal_login(w: Walker) -> bool:
    patient = PatientFactory()
    _portal_login(patient)
    return w.service(
        lambda: patient_services.change_patient_email(
            patient=patient, email="moved@example.test", changed_by=w.user
        )
    )


def _review_intake(w: Walker) -> bool:
    """The review button's page and the service itself, on a version waiting for review."""
    pending = pending_intake(PatientFactory(intake=False))
    return w.all_of(
        w.page("intake_review", pending.pk, method="post"),
        w.service(
            lambda: patient_intake.review_intake(
                version=pending_intake(PatientFactory(intake=False)), reviewed_by=w.user
            )
        ),
    )


def _admin_inlines(w: Walker) -> bool:
    request = RequestFactory().get("/admin/")
    request.user = w.user
    shown = set()
    for model, obj in (
        (TreatmentSession, w.world.session),
        (FollowUpModel, w.world.recorded),
        (type(w.world.reminder), w.world.reminder),
    ):
        model_admin = admin.site._registry[model]
        shown |= {type(i).__name__ for i in model_admin.get_inline_instances(request, obj)}
    wanted = {"SessionVialInline", "FollowUpRevisionInline", "DeliveryAttemptInline"}
    return w.all_of(*(name in shown for name in wanted)) and w.back_office(
        reverse("admin:treatments_treatmentsession_change", args=[w.world.session.pk])
    )


def _admin_pages(model: str, pk_of: Callable[[World], int]):
    def walk(w: Walker) -> bool:
        return w.all_of(
            w.back_office(reverse(f"admin:{model}_add")),
            w.back_office(reverse(f"admin:{model}_change", args=[pk_of(w.world)])),
        )

    return walk


WALKS: dict[tuple[str, ...], Callable[[Walker], bool]] = {
    ("patients.view_patient",): lambda w: w.all_of(
        w.page("patient_list"),
        w.page("patient_detail", w.world.patient.pk),
        w.page("message_log", w.world.patient.pk),
    ),
    ("patients.add_patient",): lambda w: w.page("patient_create"),
    ("treatments.view_waitlistentry",): lambda w: w.page("staff_waitlist"),
    ("patients.change_patient",): lambda w: w.all_of(
        w.page("patient_edit", w.world.patient.pk), w.page("phones_to_fix")
    ),
    ("patients.invite_patient",): lambda w: w.page(
        "portal_invite", PatientFactory().pk, method="post"
    ),
    ("patients.change_portal_login",): _change_portal_login,
    ("patients.merge_patient",): lambda w: w.all_of(
        w.page("patient_merge", w.world.patient.pk),
        w.service(
            lambda: merge_patients(
                duplicate=PatientFactory(), kept=PatientFactory(), merged_by=w.user
            )
        ),
    ),
    ("patients.export_patient_data",): lambda w: w.all_of(
        w.page("patient_export", w.world.patient.pk),
        w.page("patient_export_json", w.world.patient.pk),
    ),
    ("patients.review_intake",): _review_intake,
    ("audit.view_record_history",): lambda w: w.all_of(
        w.page("patient_history", w.world.patient.pk),
        w.page("session_history", w.world.session.pk),
    ),
    ("treatments.view_treatmentsession",): lambda w: w.all_of(
        w.page("schedule"), w.page("session_detail", w.world.session.pk)
    ),
    ("treatments.add_treatmentsession",): lambda w: w.all_of(
        w.page("session_book", w.world.patient.pk),
        w.page("session_preview", w.world.patient.pk),
        w.page("recall"),
        w.page("booking_requests"),
    ),
    ("treatments.change_treatmentsession",): lambda w: w.all_of(
        w.page("session_reschedule", w.world.session.pk),
        w.page("session_cancel", w.world.session.pk),
        w.page("session_no_show", w.world.session.pk),
    ),
    ("treatments.record_nsaid_decision",): lambda w: w.page(
        "session_nsaid_decision", w.world.session.pk
    ),
    ("treatments.complete_treatmentsession",): lambda w: w.page(
        "session_complete", w.world.session.pk
    ),
    ("treatments.amend_session_record",): lambda w: w.page("session_amend", w.world.completed.pk),
    ("treatments.change_followup",): lambda w: w.page(
        "follow_up_record", w.world.planned_follow_up.pk
    ),
    # A recorded follow-up's page is its amendment form: for those who record findings only.
    ("treatments.record_findings",): lambda w: w.all_of(
        w.page("follow_up_record", w.world.recorded.pk),
        w.page("session_baseline", w.world.recorded.session_id),
    ),
    ("treatments.view_followupphoto",): lambda w: w.all_of(
        w.page("follow_up_photo", w.world.photo.pk),
        w.page("photo_compare", w.world.recorded.session.patient_id),
    ),
    ("treatments.review_followup",): lambda w: w.all_of(
        w.page("follow_up_review"), w.page("follow_up_mark_missed", method="post")
    ),
    ("treatments.export_followup",): lambda w: w.page("follow_up_review_csv"),
    ("treatments.change_sideeffectreport",): lambda w: w.page(
        "resolve_side_effect", w.world.report.pk
    ),
    ("treatments.change_changerequest",): lambda w: w.page(
        "handle_change_request", w.world.change.pk
    ),
    ("reminders.change_reminder",): lambda w: w.page(
        "reminder_resend", w.world.reminder.pk, method="post"
    ),
    ("reminders.read_inbox",): lambda w: w.all_of(
        w.page("inbox"), w.page("inbox_mark_read", w.world.inbound.pk, method="post")
    ),
    ("reminders.monitor_delivery",): lambda w: w.all_of(
        w.page("failed_reminders"), w.page("delivery_status")
    ),
    ("consents.add_consent",): lambda w: w.page(
        "consent_desk_sign", PatientFactory(consents=False).pk, w.world.consent_version.pk
    ),
    ("consents.change_consent",): lambda w: w.page(
        "consent_desk_withdraw",
        w.world.patient.pk,
        Consent.objects.filter(patient=w.world.patient).values_list("pk", flat=True).first(),
    ),
    (
        "consents.add_consentdocument",
        "consents.change_consentdocument",
        "consents.add_consentversion",
        "consents.change_consentversion",
    ): lambda w: w.all_of(
        _admin_pages("consents_consentdocument", lambda world: world.consent_version.document_id)(
            w
        ),
        _admin_pages("consents_consentversion", lambda world: world.consent_version.pk)(w),
    ),
    ("treatments.view_productlot",): lambda w: w.all_of(
        w.page("lot_list"),
        w.page("lot_detail", w.world.lot.pk),
        w.page("lot_certificate", w.world.lot.pk),
        w.page("recall_report", w.world.recall.pk),
    ),
    ("treatments.write_off_productlot",): lambda w: w.all_of(
        w.page("lot_write_off", w.world.lot.pk, method="post"),
        w.service(
            lambda: services.write_off_vials(
                lot=w.world.lot, vials=1, reason="broken", actor=w.user
            )
        ),
    ),
    ("treatments.hold_productlot",): lambda w: w.all_of(
        w.page("lot_hold", w.world.lot.pk, method="post"),
        w.page("lot_release", w.world.lot.pk, method="post"),
    ),
    ("treatments.recall_productlot",): lambda w: w.all_of(
        w.page("lot_recall", w.world.lot.pk, method="post"),
        w.page("recall_report_csv", w.world.recall.pk),
    ),
    ("treatments.change_recallrecipient",): lambda w: w.page(
        "recall_contact", w.world.recall_recipient.pk, method="post"
    ),
    ("accounts.use_back_office",): lambda w: w.back_office(reverse("admin:index")),
    ("treatments.add_productlot", "treatments.change_productlot"): _admin_pages(
        "treatments_productlot", lambda world: world.lot.pk
    ),
    ("treatments.add_room", "treatments.change_room"): _admin_pages(
        "treatments_room", lambda world: world.room.pk
    ),
    (
        "treatments.add_roomoutofservice",
        "treatments.change_roomoutofservice",
        "treatments.delete_roomoutofservice",
    ): _admin_pages("treatments_roomoutofservice", lambda world: world.outage.pk),
    (
        "sites.add_site",
        "sites.change_site",
        "sites.add_openinghours",
        "sites.change_openinghours",
        "sites.delete_openinghours",
        "sites.add_siteclosure",
        "sites.change_siteclosure",
        "sites.delete_siteclosure",
    ): _admin_pages("sites_site", lambda world: world.room.site_id),
    (
        "sites.add_workinghours",
        "sites.change_workinghours",
        "sites.delete_workinghours",
        "sites.add_clinicianabsence",
        "sites.change_clinicianabsence",
        "sites.delete_clinicianabsence",
    ): lambda w: w.all_of(
        _admin_pages("sites_workinghours", lambda world: world.working_hours.pk)(w),
        _admin_pages("sites_clinicianabsence", lambda world: world.absence.pk)(w),
    ),
    ("treatments.add_protocolversion", "treatments.change_protocolversion"): _admin_pages(
        "treatments_protocolversion", lambda world: world.protocol.pk
    ),
    ("auth.add_user", "auth.change_user"): _admin_pages(
        "auth_user", lambda world: world.session.clinician.pk
    ),
    (
        "treatments.view_sessionvial",
        "treatments.view_followuprevision",
        "reminders.view_deliveryattempt",
    ): _admin_inlines,
}


def test_every_row_has_a_walk():
    assert {permissions for _, permissions, _ in TABLE} == set(WALKS)


@pytest.mark.parametrize("role", list(COLUMNS.values()))
def test_each_role_may_do_exactly_what_the_table_says(frozen, role):
    world = World()
    # Every account may reach the back office's door (`is_staff`): only the permission
    # decides whether it opens.
    user = UserFactory(role=role, is_staff=True)
    walker = Walker(user, world)
    wrong = [
        f"{action}: table says {'yes' if marks[role] else 'no'}"
        for action, permissions, marks in TABLE
        if WALKS[permissions](walker) != marks[role]
    ]
    assert wrong == [], role


def test_the_front_desk_sees_no_clinical_photo_on_the_patient_page(frozen):
    """Beyond the photo's own URL (walked above): the page does not show the front desk the
    photos, nor the staff navigation what their roles do not grant."""
    world = World()
    patient_page = reverse("patient_detail", args=[world.recorded.session.patient_id])
    photo_url = reverse("follow_up_photo", args=[world.photo.pk])
    shown = {}
    for role in (roles.CLINIC_STAFF, roles.CLINICIAN, roles.CLINIC_ADMIN):
        client = Client()
        client.force_login(UserFactory(role=role))
        html = client.get(patient_page).content.decode()
        shown[role] = (photo_url in html, reverse("follow_up_review") in html)
    assert shown == {
        roles.CLINIC_STAFF: (False, False),
        roles.CLINICIAN: (True, False),
        roles.CLINIC_ADMIN: (True, True),
    }
