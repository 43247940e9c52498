"""Security review, items 1-4: who may do what, and the record of who did it.

1. The portal's links set only a patient's own password (never staff's, never another's);
   a patient's login is linked by the invitation service only; email and login change
   together.
2. Findings of a follow-up are a clinician's, credited to the signed-in clinician, and
   amended with every earlier version kept.
3. The Django admin is for clinic admins, and every field a service owns is read-only there.
4. Each service stores the user who acted.
"""

import re
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from accounts import roles
from patients import invitations
from patients import services as patient_services
from tests.factories import (
    NOW,
    PatientFactory,
    ProductLotFactory,
    UserFactory,
    at,
    book,
    clinician,
    staff,
)
from treatments import services
from treatments.models import FollowUp, FollowUpRevision, TreatmentSession

pytestmark = pytest.mark.django_db

PASSWORD = "Tr1cky-pass-9"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def completed(session):
    return services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=session.ends_at,
    )


@pytest.fixture
def held(frozen):
    """A session held on 1 October 2026 (before NOW), carried out."""
    return completed(book(day=date(2026, 10, 1), now=at(date(2026, 9, 20))))


def portal_login(patient, password: str | None = PASSWORD) -> User:
    """The patient's own portal account, active (a password set) unless password is None."""
    user = User.objects.create_user(username=patient.email.lower(), email=patient.email)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    user.groups.add(roles_group(roles.PATIENT))
    patient.user = user
    patient.save(update_fields=["user"])
    return user


def roles_group(name):
    from django.contrib.auth.models import Group

    return Group.objects.get(name=name)


def welcome_path(body: str) -> str:
    return re.search(r"/portal/welcome/\S+/", body).group(0)


# --- Item 1: the portal never hands out someone else's login --------------------------------


class TestInvitations:
    @pytest.fixture
    def superuser(self):
        return User.objects.create_superuser("admin", "admin@clinic.test", "old-admin-pass")

    @pytest.mark.parametrize("kind", ["superuser", "staff", "clinician"])
    def test_a_staff_login_linked_to_a_patient_gets_no_invitation(
        self, frozen, superuser, staff_client, kind, django_capture_on_commit_callbacks
    ):
        victim = {
            "superuser": superuser,
            "staff": staff(),
            "clinician": clinician(),
        }[kind]
        patient = PatientFactory(email="attacker@example.test")
        patient.user = victim  # however it got there (the old admin let anyone set it)
        patient.save()
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(reverse("portal_invite", args=[patient.pk]), follow=True)
        assert "not their own portal account" in response.content.decode()
        assert mail.outbox == []

    def test_the_welcome_link_never_sets_a_staff_members_password(self, frozen, superuser):
        # Even with a valid token for the superuser (e.g. from an invitation sent before the
        # fix), the welcome step refuses: it serves patients' own logins only.
        patient = PatientFactory()
        patient.user = superuser
        patient.save()
        token = invitations.invite_tokens.make_token(superuser)
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        path = reverse(
            "portal_welcome", args=[urlsafe_base64_encode(force_bytes(superuser.pk)), token]
        )
        client = Client()
        assert client.get(path).status_code == 400
        response = client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
        assert response.status_code == 400
        superuser.refresh_from_db()
        assert superuser.check_password("old-admin-pass")
        assert "_auth_user_id" not in client.session

    def test_the_welcome_link_of_a_login_linked_to_no_patient_is_refused(self, frozen):
        loose = UserFactory(username="loose@example.test", role=roles.PATIENT)
        loose.set_unusable_password()
        loose.save()
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        path = reverse(
            "portal_welcome",
            args=[
                urlsafe_base64_encode(force_bytes(loose.pk)),
                invitations.invite_tokens.make_token(loose),
            ],
        )
        assert Client().get(path).status_code == 400

    def test_a_login_named_after_another_address_is_refused(self, frozen, staff_client):
        # The old attack: change the record's email, re-invite, and set the password of the
        # account the invitation reuses. A login must carry the patient's email as its name.
        patient = PatientFactory(email="maria@example.test")
        portal_login(patient, password=None)
        type(patient).objects.filter(pk=patient.pk).update(email="attacker@example.test")
        with pytest.raises(ValidationError) as exc:
            invitations.invite_patient(patient=patient)
        assert exc.value.code == "not_a_patient_login"

    def test_a_reinvitation_of_an_active_account_is_a_reset_to_the_logins_address(
        self, frozen, staff_client, django_capture_on_commit_callbacks
    ):
        patient = PatientFactory(email="maria@example.test")
        user = portal_login(patient)
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(reverse("portal_invite", args=[patient.pk]), follow=True)
        assert "already active" in response.content.decode()
        [email] = mail.outbox
        assert email.to == ["maria@example.test"]
        assert "/portal/welcome/" not in email.body
        reset = re.search(r"/accounts/reset/\S+/", email.body).group(0)
        # The reset link is Django's own: it works for this account, once.
        client = Client()
        form_page = client.get(reset, follow=True)
        assert form_page.status_code == 200
        client.post(
            form_page.redirect_chain[-1][0],
            {"new_password1": "An0ther-pass-7", "new_password2": "An0ther-pass-7"},
        )
        user.refresh_from_db()
        assert user.check_password("An0ther-pass-7")

    def test_a_first_invitation_still_goes_to_the_patient(
        self, frozen, staff_client, django_capture_on_commit_callbacks
    ):
        patient = PatientFactory(email="New.Patient@example.test")
        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("portal_invite", args=[patient.pk]))
        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("portal_invite", args=[patient.pk]))  # never signed in
        assert [m.to for m in mail.outbox] == [["New.Patient@example.test"]] * 2
        assert all("/portal/welcome/" in m.body for m in mail.outbox)


class TestEmailChange:
    def test_email_and_login_change_together(self, frozen, django_capture_on_commit_callbacks):
        patient = PatientFactory(email="maria@example.test")
        user = portal_login(patient)
        admin = UserFactory(role=roles.CLINIC_ADMIN)
        with django_capture_on_commit_callbacks(execute=True):
            patient_services.change_patient_email(
                patient=patient, email="Maria.New@example.test", changed_by=admin
            )
        user.refresh_from_db()
        assert (user.username, user.email) == ("maria.new@example.test", "Maria.New@example.test")
        [notice] = mail.outbox
        assert notice.to == ["maria@example.test"]  # the old address is told
        assert "Maria.New@example.test" in notice.body

    def test_the_front_desk_cannot_redirect_an_active_account(self, frozen):
        patient = PatientFactory(email="maria@example.test")
        user = portal_login(patient)
        with pytest.raises(PermissionDenied):
            patient_services.change_patient_email(
                patient=patient, email="attacker@example.test", changed_by=staff()
            )
        user.refresh_from_db()
        patient.refresh_from_db()
        assert user.username == patient.email == "maria@example.test"

    def test_before_the_first_sign_in_the_front_desk_may_fix_a_typo(self, frozen):
        patient = PatientFactory(email="maria@exmaple.test")
        user = portal_login(patient, password=None)
        patient_services.change_patient_email(
            patient=patient, email="maria@example.test", changed_by=staff()
        )
        user.refresh_from_db()
        assert user.username == "maria@example.test"
        assert mail.outbox == []

    def test_another_logins_name_or_patients_email_is_refused(self, frozen):
        taken = PatientFactory(email="taken@example.test")
        patient = PatientFactory()
        portal_login(patient, password=None)
        UserFactory(username="someone@example.test")
        desk = staff()
        with pytest.raises(ValidationError) as exc:
            patient_services.change_patient_email(
                patient=patient, email=taken.email.upper(), changed_by=desk
            )
        assert exc.value.code == "duplicate_email"
        with pytest.raises(ValidationError) as exc:
            patient_services.change_patient_email(
                patient=patient, email="someone@example.test", changed_by=desk
            )
        assert exc.value.code == "account_exists"


# --- Item 2: findings are a clinician's and are amended, never overwritten ------------------


def record_url(follow_up):
    return reverse("follow_up_record", args=[follow_up.pk])


class TestFindings:
    @pytest.fixture
    def recorded(self, held):
        """The 7-day check of a held session, recorded by its clinician and shared."""
        follow_up = held.follow_ups.get(kind="aftercare_check")
        return services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=held.clinician,
            notes="Healing well, mild redness",
            hair_density_per_cm2=Decimal("120.0"),
            shared_with_patient=True,
            now=at(date(2026, 10, 8)),
        )

    def test_the_front_desk_cannot_overwrite_a_clinicians_record(self, recorded, staff_client):
        other = clinician()
        response = staff_client.post(
            record_url(recorded),
            {
                "status": "done",
                "seen_by": other.pk,
                "notes": "Reception's text",
                "shared_with_patient": "on",
                "version": recorded.version,
                "reason": "because",
            },
        )
        assert response.status_code == 403
        recorded.refresh_from_db()
        assert recorded.notes == "Healing well, mild redness"
        assert recorded.seen_by == recorded.session.clinician
        # The patient still reads the clinician's words.
        patient_page = portal_page(recorded.session.patient)
        assert "Healing well" in patient_page and "Reception's text" not in patient_page

    def test_the_front_desk_cannot_record_findings_on_a_planned_follow_up(self, held, staff_client):
        follow_up = held.follow_ups.get(kind="aftercare_check")
        response = staff_client.post(
            record_url(follow_up),
            {
                "status": "done",
                "notes": "Reception's text",
                "shared_with_patient": "on",
                "version": 0,
            },
        )
        assert response.status_code == 200  # the form: "done" is not on offer
        follow_up.refresh_from_db()
        assert (follow_up.status, follow_up.notes) == ("planned", "")
        with pytest.raises(PermissionDenied):
            services.record_follow_up(
                follow_up=follow_up, status="missed", notes="x", recorded_by=staff()
            )

    def test_the_front_desk_marks_attendance(self, held, staff_client):
        follow_up = held.follow_ups.get(kind="aftercare_check")
        page = staff_client.get(record_url(follow_up))
        assert list(page.context["form"].fields["status"].choices) == [("missed", "Missed")]
        response = staff_client.post(record_url(follow_up), {"status": "missed", "version": 0})
        assert response.status_code == 302
        follow_up.refresh_from_db()
        assert (follow_up.status, follow_up.recorded_by) == ("missed", staff_client.user)

    def test_seen_by_is_the_signed_in_clinician_never_a_form_field(self, held, clinician_client):
        follow_up = held.follow_ups.get(kind="aftercare_check")
        colleague = clinician()
        clinician_client.post(
            record_url(follow_up),
            {"status": "done", "seen_by": colleague.pk, "notes": "Mine", "version": 0},
        )
        follow_up.refresh_from_db()
        assert follow_up.seen_by == clinician_client.user != colleague

    def test_the_form_on_a_recorded_follow_up_opens_with_what_was_recorded(
        self, recorded, clinician_client
    ):
        response = clinician_client.get(record_url(recorded))
        form = response.context["form"]
        assert form["notes"].value() == "Healing well, mild redness"
        assert form["hair_density_per_cm2"].value() == Decimal("120.0")
        assert form["shared_with_patient"].value() is True
        assert form["status"].value() == "done"
        assert "reason" in form.fields and form.fields["reason"].required

    def test_an_amendment_needs_a_reason_and_keeps_the_earlier_version(
        self, recorded, clinician_client
    ):
        data = {
            "status": "done",
            "notes": "Healing well; redness gone on review of the photos",
            "hair_density_per_cm2": "121.5",
            "shared_with_patient": "on",
            "version": recorded.version,
        }
        response = clinician_client.post(record_url(recorded), data)
        assert "reason" in response.context["form"].errors
        recorded.refresh_from_db()
        assert recorded.notes == "Healing well, mild redness"

        response = clinician_client.post(
            record_url(recorded), data | {"reason": "Density re-measured on the photos"}
        )
        assert response.status_code == 302
        recorded.refresh_from_db()
        assert recorded.notes.startswith("Healing well; redness gone")
        assert recorded.hair_density_per_cm2 == Decimal("121.5")
        # The clinician who saw the patient stays; the amender is recorded.
        assert recorded.seen_by == recorded.session.clinician
        assert recorded.recorded_by == clinician_client.user
        first, second = FollowUpRevision.objects.filter(follow_up=recorded)
        assert (first.version, first.notes, first.recorded_by) == (
            1,
            "Healing well, mild redness",
            recorded.session.clinician,
        )
        assert (second.version, second.reason, second.recorded_by) == (
            2,
            "Density re-measured on the photos",
            clinician_client.user,
        )
        # Staff read the history; the patient reads only the current version.
        history = clinician_client.get(record_url(recorded)).content.decode()
        assert "Healing well, mild redness" in history
        assert "Density re-measured on the photos" in history
        detail = clinician_client.get(
            reverse("patient_detail", args=[recorded.session.patient_id])
        ).content.decode()
        assert "amended (history)" in detail
        shown = portal_page(recorded.session.patient)
        assert "redness gone" in shown and "mild redness" not in shown

    def test_a_form_opened_before_another_amendment_is_refused(self, recorded):
        doctor = recorded.session.clinician
        opened_on = recorded.version
        services.record_follow_up(
            follow_up=recorded,
            status="done",
            recorded_by=doctor,
            notes="Second look",
            reason="Typo",
            expected_version=opened_on,
        )
        with pytest.raises(ValidationError) as exc:
            services.record_follow_up(
                follow_up=recorded,
                status="done",
                recorded_by=doctor,
                notes="Would overwrite the second look unseen",
                reason="Stale",
                expected_version=opened_on,
            )
        assert exc.value.code == "changed_meanwhile"
        recorded.refresh_from_db()
        assert recorded.notes == "Second look"

    def test_a_follow_up_recorded_before_versions_keeps_its_text_on_amendment(self, held):
        follow_up = held.follow_ups.get(kind="aftercare_check")
        FollowUp.objects.filter(pk=follow_up.pk).update(  # as seed_scale or old code wrote it
            status="done", seen_by=held.clinician, seen_at=NOW, notes="Old text"
        )
        services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=held.clinician,
            notes="New text",
            reason="Correction",
        )
        assert list(
            FollowUpRevision.objects.filter(follow_up=follow_up).values_list(
                "version", "notes", "recorded_by"
            )
        ) == [(1, "Old text", None), (2, "New text", held.clinician.pk)]

    def test_revisions_are_append_only_in_the_database(self, recorded):
        revision = FollowUpRevision.objects.get(follow_up=recorded)
        with pytest.raises(IntegrityError), transaction.atomic():
            FollowUpRevision.objects.filter(pk=revision.pk).update(notes="rewritten")
        with pytest.raises(IntegrityError), transaction.atomic():
            FollowUpRevision.objects.create(  # an amendment without a reason
                follow_up=recorded, version=2, status="done", recorded_at=NOW
            )

    def test_the_front_desk_cannot_amend_through_the_service(self, recorded):
        with pytest.raises(PermissionDenied):
            services.record_follow_up(
                follow_up=recorded, status="missed", recorded_by=staff(), reason="x"
            )


def portal_page(patient) -> str:
    if patient.user_id is None:
        portal_login(patient)
    client = signed_in(patient.user)
    return client.get(reverse("portal_follow_ups")).content.decode()


# --- Item 3: the admin ----------------------------------------------------------------------


class _Form(HTMLParser):
    """The fields of an admin change form as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select = self._textarea = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            ticked = a.get("type") in ("checkbox", "radio")
            if ticked and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if ticked else ""))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected]
            self.data[self._select] = chosen[:1] or [""]
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def admin_save(client, obj, changes: dict) -> None:
    """Submit the object's admin change form as shown, with `changes` typed in."""
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = _Form()
    form.feed(page.content.decode())
    data = {k: v if len(v) > 1 else v[0] for k, v in form.data.items()}
    data.update(changes)
    data["_save"] = "Save"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors  # saved


@pytest.fixture
def clinic_admin(db):
    """A clinic admin as the demo makes one: the role, admin access (is_staff)."""
    return UserFactory(role=roles.CLINIC_ADMIN, is_staff=True)


class TestAdminAccess:
    @pytest.mark.parametrize("role", [roles.CLINIC_STAFF, roles.CLINICIAN])
    def test_front_desk_and_clinicians_are_refused_even_with_is_staff(self, frozen, role):
        # The old demo made every staff account is_staff: the site itself refuses them.
        user = UserFactory(role=role, is_staff=True)
        client = signed_in(user)
        held_session = book(day=date(2027, 3, 10))
        for url in (
            reverse("admin:index"),
            reverse("admin:patients_patient_change", args=[held_session.patient_id]),
            reverse("admin:treatments_followup_changelist"),
        ):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url

    def test_the_attack_through_the_admin_is_closed(
        self, frozen, clinic_admin, django_capture_on_commit_callbacks
    ):
        # Reception linked a patient to the superuser's login in the admin, set the email to
        # its own address and invited the patient. Reception no longer gets into the admin;
        # even an admin's form cannot link a login; and no invitation goes to a staff login.
        superuser = User.objects.create_superuser("admin", "admin@clinic.test", "old-pass")
        reception = UserFactory(role=roles.CLINIC_STAFF, is_staff=True)
        patient = PatientFactory()
        url = reverse("admin:patients_patient_change", args=[patient.pk])
        assert signed_in(reception).get(url).status_code == 302
        admin_save(
            signed_in(clinic_admin),
            patient,
            {"user": superuser.pk, "email": "evil@example.test"},
        )
        patient.refresh_from_db()
        assert patient.user_id is None
        type(patient).objects.filter(pk=patient.pk).update(user=superuser)  # a raw write
        with django_capture_on_commit_callbacks(execute=True):
            signed_in(reception).post(reverse("portal_invite", args=[patient.pk]))
        assert mail.outbox == []

    def test_clinic_admins_get_in(self, frozen, clinic_admin):
        assert signed_in(clinic_admin).get(reverse("admin:index")).status_code == 200


class TestAdminFieldsOwnedByServices:
    def test_a_patients_login_cannot_be_linked_by_hand(self, frozen, clinic_admin):
        superuser = User.objects.create_superuser("admin", "admin@clinic.test", "old-pass")
        patient = PatientFactory(first_name="Before")
        admin_save(signed_in(clinic_admin), patient, {"user": superuser.pk, "first_name": "After"})
        patient.refresh_from_db()
        assert patient.first_name == "After"  # the form did save
        assert patient.user_id is None

    def test_an_email_change_in_the_admin_moves_the_login_too(
        self, frozen, clinic_admin, django_capture_on_commit_callbacks
    ):
        patient = PatientFactory(email="maria@example.test")
        user = portal_login(patient)
        with django_capture_on_commit_callbacks(execute=True):
            admin_save(signed_in(clinic_admin), patient, {"email": "maria.new@example.test"})
        user.refresh_from_db()
        patient.refresh_from_db()
        assert patient.email == user.username == user.email == "maria.new@example.test"
        assert [m.to for m in mail.outbox] == [["maria@example.test"]]

    def test_an_email_another_login_uses_is_refused_on_the_form(self, frozen, clinic_admin):
        patient = PatientFactory(email="maria@example.test")
        portal_login(patient)
        UserFactory(username="someone@example.test")
        url = reverse("admin:patients_patient_change", args=[patient.pk])
        client = signed_in(clinic_admin)
        form = _Form()
        form.feed(client.get(url).content.decode())
        data = {k: v[0] for k, v in form.data.items()} | {"email": "someone@example.test"}
        response = client.post(url, data)
        assert "already signs in as" in str(response.context["adminform"].form.errors)
        patient.refresh_from_db()
        assert patient.email == patient.user.username == "maria@example.test"

    def test_findings_status_and_sharing_of_a_follow_up(self, frozen, clinic_admin):
        session = book(day=date(2027, 3, 10))  # not held yet
        follow_up = session.follow_ups.get(kind="aftercare_check")
        patient_login = portal_login(session.patient)
        admin_save(
            signed_in(clinic_admin),
            follow_up,
            {
                "status": "done",
                "shared_with_patient": "on",
                "hair_density_per_cm2": "999.9",
                "notes": "Made up",
                "seen_by": patient_login.pk,
            },
        )
        follow_up.refresh_from_db()
        assert (follow_up.status, follow_up.shared_with_patient, follow_up.seen_by_id) == (
            "planned",
            False,
            None,
        )
        assert follow_up.hair_density_per_cm2 is None and follow_up.notes == ""

    def test_a_sessions_check_in_and_status(self, frozen, clinic_admin):
        session = book(day=date(2027, 3, 10))
        admin_save(
            signed_in(clinic_admin),
            session,
            {
                "checked_in_at_0": "2020-01-01",
                "checked_in_at_1": "10:00:00",
                "status": "completed",
                "notes": "x",
            },
        )
        session.refresh_from_db()
        assert (session.checked_in_at, session.status, session.notes) == (None, "scheduled", "")

    def test_admin_actions_go_through_the_services(
        self, frozen, clinic_admin, django_capture_on_commit_callbacks
    ):
        session = book(day=date(2026, 12, 1), now=at(date(2026, 11, 20)))
        client = signed_in(clinic_admin)
        client.post(
            reverse("admin:treatments_treatmentsession_changelist"),
            {"action": "mark_no_show", "_selected_action": [session.pk]},
        )
        session.refresh_from_db()
        assert (session.status, session.no_show_recorded_by) == ("no_show", clinic_admin)
        held = completed(book(day=date(2026, 10, 1), now=at(date(2026, 9, 20))))
        due = held.follow_ups.get(kind="aftercare_check")  # due 8 Oct 2026
        not_due = held.follow_ups.get(kind="long_term")
        client.post(
            reverse("admin:treatments_followup_changelist"),
            {"action": "mark_missed", "_selected_action": [due.pk, not_due.pk]},
        )
        due.refresh_from_db()
        not_due.refresh_from_db()
        assert (due.status, due.recorded_by) == ("missed", clinic_admin)
        assert not_due.status == "planned"  # the service's rule: only due ones
        patient = PatientFactory(email="Invited@example.test")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                reverse("admin:patients_patient_changelist"),
                {"action": "invite_to_portal", "_selected_action": [patient.pk]},
            )
        patient.refresh_from_db()
        assert patient.user.username == "invited@example.test"
        assert [m.to for m in mail.outbox] == [["Invited@example.test"]]


def test_the_demo_gives_admin_access_to_the_clinic_admin_only(db):
    from django.core.management import call_command

    User.objects.create_user("reception", is_staff=True)  # seeded before the fix
    call_command("seed_demo")
    staff_flags = dict(
        User.objects.filter(
            username__in=["admin", "reception", "dr.meyer", "dr.okafor"]
        ).values_list("username", "is_staff")
    )
    assert staff_flags == {
        "admin": True,
        "reception": False,
        "dr.meyer": False,
        "dr.okafor": False,
    }


# --- Item 4: who did what --------------------------------------------------------------------


class TestActorsAreStored:
    def test_session_services(self, frozen, staff_client):
        desk = staff_client.user
        today = book(day=date(2027, 1, 4), hour=11, now=at(date(2026, 12, 1)))
        services.check_in_session(session=today, checked_in_by=desk, now=NOW)
        moved = book(day=date(2027, 3, 10))
        services.reschedule_session(
            session=moved,
            starts_at=at(date(2027, 3, 11)),
            ends_at=at(date(2027, 3, 11)) + timedelta(hours=1),
            changed_by=desk,
            now=NOW,
        )
        services.cancel_session(session=moved, reason="Patient ill", cancelled_by=desk, now=NOW)
        missed = book(day=date(2026, 12, 20), now=at(date(2026, 12, 1)))
        services.mark_no_show(session=missed, recorded_by=desk, now=NOW)

        today.refresh_from_db()
        moved.refresh_from_db()
        missed.refresh_from_db()
        assert (today.checked_in_by, today.checked_in_at) == (desk, NOW)
        assert (moved.rescheduled_by, moved.rescheduled_at) == (desk, NOW)
        assert moved.cancelled_by == desk
        assert (missed.no_show_recorded_by, missed.no_show_recorded_at) == (desk, NOW)

        name = "Role Clinic staff"
        for session, words in (
            (today, "Checked in"),
            (moved, "Last moved"),
            (moved, "Cancelled"),
            (missed, "Marked as a no-show"),
        ):
            page = staff_client.get(reverse("session_detail", args=[session.pk]))
            assert re.search(f"{words}[^<]* by {name}", page.content.decode()), words
        patient_page = staff_client.get(
            reverse("patient_detail", args=[moved.patient_id])
        ).content.decode()
        assert f"cancelled by {name}" in patient_page

    def test_follow_up_services(self, held, clinic_admin_client):
        due = held.follow_ups.get(kind="aftercare_check")
        clinic_admin_client.post(reverse("follow_up_mark_missed"), {"follow_up": [due.pk]})
        due.refresh_from_db()
        assert (due.status, due.recorded_by) == ("missed", clinic_admin_client.user)
        assert TreatmentSession.objects.filter(pk=held.pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_twenty_clinicians_amending_one_version_at_once():
    """Opened on the same version, submitted at the same instant: one amendment wins, the
    others are told it changed meanwhile; nothing is overwritten unseen, and the history
    holds exactly the first record and the one amendment."""
    from tests.test_concurrency import THREADS, run_at_once

    session = completed(book(day=date(2026, 10, 1), now=at(date(2026, 9, 20))))
    follow_up = services.record_follow_up(
        follow_up=session.follow_ups.get(kind="aftercare_check"),
        status="done",
        recorded_by=session.clinician,
        notes="First",
        now=at(date(2026, 10, 8)),
    )
    doctors = [clinician() for _ in range(THREADS)]

    def amend(i):
        services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=doctors[i],
            notes=f"Amendment {i}",
            reason=f"Reason {i}",
            expected_version=1,
        )

    outcomes = run_at_once(THREADS, amend)
    assert outcomes.count("booked") == 1, outcomes  # run_at_once calls success "booked"
    assert outcomes.count("changed_meanwhile") == THREADS - 1, outcomes
    follow_up.refresh_from_db()
    versions = list(follow_up.revisions.values_list("version", "notes"))
    assert versions == [(1, "First"), (2, follow_up.notes)]
    assert follow_up.version == 2
