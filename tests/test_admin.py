"""The Django admin works for every model: list (with search and filters) and change pages."""

from datetime import date

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from tests.factories import ProductLotFactory, book

pytestmark = pytest.mark.django_db

OUR_APPS = ("patients", "treatments", "portal")


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("boss", "boss@clinic.test", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def data():
    session = book(day=date(2027, 3, 10))
    ProductLotFactory()
    return session


def our_models():
    return [
        m
        for m in apps.get_models()
        if m._meta.app_label in OUR_APPS and admin.site.is_registered(m)
    ]


def test_every_domain_model_is_registered():
    registered = {m.__name__ for m in our_models()}
    assert {
        "Patient",
        "TreatmentSession",
        "FollowUp",
        "ProductLot",
        "ProtocolVersion",
        "Room",
    } <= registered


@pytest.mark.parametrize("query", ["", "?q=Ient", "?o=1"])
def test_changelists(admin_client, data, query):
    for model in our_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url + query)
        assert response.status_code == 200, url


def test_change_pages(admin_client, data):
    for obj in [data, data.patient, data.protocol, data.room, data.follow_ups.first()]:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200, url


def test_a_protocol_version_in_use_is_frozen(admin_client, data):
    url = reverse("admin:treatments_protocolversion_change", args=[data.protocol.pk])
    admin_client.post(url, {"name": "Changed", "gap_months": 1})
    data.protocol.refresh_from_db()
    assert (data.protocol.name, data.protocol.gap_months) == ("Standard protocol v1", 6)


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("admin:patients_patient_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_patients_reminders_and_the_failed_list(admin_client, data):
    from reminders.models import Reminder

    patient_page = admin_client.get(
        reverse("admin:patients_patient_change", args=[data.patient.pk])
    ).content.decode()
    link = f"?session__patient__id__exact={data.patient.pk}"
    assert link in patient_page
    url = reverse("admin:reminders_reminder_changelist")
    response = admin_client.get(url + link)
    assert response.status_code == 200
    assert response.context["cl"].result_count == Reminder.objects.filter(session=data).count() > 0
    Reminder.objects.filter(session=data, kind="day_before").update(state="failed")
    failed = admin_client.get(url + "?state__exact=failed")
    assert failed.context["cl"].result_count == 1


def test_resend_action(admin_client, data):
    from reminders.models import Reminder

    reminder = Reminder.objects.get(session=data, kind="day_before")
    Reminder.objects.filter(pk=reminder.pk).update(state="failed", attempts=5)
    url = reverse("admin:reminders_reminder_changelist")
    admin_client.post(url, {"action": "resend_failed", "_selected_action": [reminder.pk]})
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts) == ("pending", 0)


class TestStaffAccounts:
    """Clinic admins manage staff accounts (auth.add_user/change_user) but cannot make
    anyone a superuser, grant permissions outside the roles, or change a superuser."""

    @pytest.fixture
    def clinic_admin(self, client):
        from accounts import roles
        from tests.factories import UserFactory

        user = UserFactory(role=roles.CLINIC_ADMIN, is_staff=True)
        client.force_login(user)
        return user

    def test_a_role_is_given_but_superuser_is_not(self, client, clinic_admin):
        from django.contrib.auth.models import Group, Permission

        from accounts import roles
        from tests.factories import UserFactory

        desk = UserFactory(username="desk")
        url = reverse("admin:auth_user_change", args=[desk.pk])
        page = client.get(url)
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert "groups" in form.fields
        assert "is_superuser" not in form.fields and "user_permissions" not in form.fields
        clinician_group = Group.objects.get(name=roles.CLINICIAN)
        response = client.post(
            url,
            {
                "username": "desk",
                "is_active": "on",
                "is_staff": "on",
                "is_superuser": "on",
                "groups": [clinician_group.pk],
                "user_permissions": [Permission.objects.get(codename="delete_patient").pk],
                "date_joined_0": "2027-01-04",
                "date_joined_1": "09:00:00",
            },
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        desk.refresh_from_db()
        assert list(desk.groups.all()) == [clinician_group]
        assert not desk.is_superuser
        assert not desk.user_permissions.exists()

    def test_a_superusers_account_is_out_of_reach(self, client, clinic_admin):
        boss = User.objects.create_superuser("boss", "boss@clinic.test", "pw-for-tests-only")
        url = reverse("admin:auth_user_change", args=[boss.pk])
        response = client.post(url, {"username": "boss2", "is_active": "on"})
        assert response.status_code == 403
        boss.refresh_from_db()
        assert boss.username == "boss"


def test_a_reverse_relation_as_to_field_is_refused_not_a_500(admin_client, data):
    """Django 5.2 reads `.primary_key` off a reverse relation named in `_to_field` (500);
    accounts.admin_site.ToFieldGuard refuses it (400) on every model page."""
    for model in admin.site._registry:
        reverse_names = [
            f.name for f in model._meta.get_fields(include_hidden=True) if not f.concrete
        ]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in reverse_names[:3]:
            response = admin_client.get(url, {"_to_field": name, "_popup": "1"})
            assert response.status_code == 400, (url, name)
    # The primary key stays allowed (the admin's own popups use it).
    room_list = reverse("admin:treatments_room_changelist")
    assert admin_client.get(room_list, {"_to_field": "id", "_popup": "1"}).status_code == 200
