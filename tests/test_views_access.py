"""Every front-office page: login required, the right role, state changes by POST only."""

from datetime import date

import pytest
from django.urls import reverse

from tests.factories import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(frozen):
    session = book(day=date(2027, 3, 10))
    return {
        "patient": session.patient_id,
        "session": session.pk,
        "follow_up": session.follow_ups.first().pk,
        "reminder": session.reminders.first().pk,
    }


STAFF_PAGES = [
    ("schedule", None),
    ("patient_list", None),
    ("patient_create", None),
    ("patient_detail", "patient"),
    ("session_book", "patient"),
    ("session_preview", "patient"),
    ("session_detail", "session"),
    ("session_reschedule", "session"),
    ("session_cancel", "session"),
    ("session_no_show", "session"),  # GET: the confirmation page; POST marks it
    ("follow_up_record", "follow_up"),
]
ADMIN_PAGES = [
    ("follow_up_review", None),
    ("follow_up_review_csv", None),
    ("failed_reminders", None),
]
POST_ONLY = [
    ("session_check_in", "session"),
    ("reminder_resend", "reminder"),
    ("follow_up_mark_missed", None),
]


def url(ids, name, key):
    return reverse(name, args=[ids[key]] if key else [])


@pytest.mark.parametrize(("name", "key"), STAFF_PAGES + ADMIN_PAGES + POST_ONLY)
def test_anonymous_is_sent_to_sign_in(client, ids, name, key):
    response = client.get(url(ids, name, key))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "key"), STAFF_PAGES + ADMIN_PAGES + POST_ONLY)
def test_a_patient_reaches_none_of_them(patient_client, ids, name, key):
    assert patient_client.get(url(ids, name, key)).status_code == 403
    assert patient_client.post(url(ids, name, key)).status_code == 403


@pytest.mark.parametrize(("name", "key"), STAFF_PAGES)
def test_staff_pages(staff_client, ids, name, key):
    assert staff_client.get(url(ids, name, key)).status_code == 200


@pytest.mark.parametrize(("name", "key"), ADMIN_PAGES)
def test_admin_pages_are_for_admins_only(
    staff_client, clinician_client, clinic_admin_client, ids, name, key
):
    assert staff_client.get(url(ids, name, key)).status_code == 403
    assert clinician_client.get(url(ids, name, key)).status_code == 403
    assert clinic_admin_client.get(url(ids, name, key)).status_code == 200


@pytest.mark.parametrize(("name", "key"), POST_ONLY)
def test_state_changes_are_post_only(clinic_admin_client, ids, name, key):
    assert clinic_admin_client.get(url(ids, name, key)).status_code == 405


def test_clinician_only_pages(staff_client, clinician_client, ids):
    for name in ("session_complete", "session_nsaid_decision"):
        target = reverse(name, args=[ids["session"]])
        assert staff_client.get(target).status_code == 403
        assert clinician_client.get(target).status_code == 200


def test_csrf_is_enforced(ids, django_user_model):
    from django.test import Client

    from accounts import roles
    from tests.factories import UserFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role=roles.CLINIC_STAFF))
    response = client.post(reverse("session_cancel", args=[ids["session"]]), {"reason": "x"})
    assert response.status_code == 403


def test_role_aware_landing(staff_client, ids):
    assert staff_client.get("/")["Location"] == reverse("schedule")


def test_landing_for_each_role(client, db):
    from accounts import roles
    from tests.factories import UserFactory

    expected = {
        roles.CLINIC_STAFF: reverse("schedule"),
        roles.CLINICIAN: reverse("schedule"),
        roles.CLINIC_ADMIN: reverse("follow_up_review"),
        roles.PATIENT: reverse("portal_home"),
    }
    for role, target in expected.items():
        client.force_login(UserFactory(role=role))
        assert client.get("/")["Location"] == target, role
    client.force_login(UserFactory())
    assert client.get("/").status_code == 403  # no role yet
    staff = UserFactory(role=roles.CLINIC_STAFF)
    client.force_login(staff)
    assert client.get(reverse("portal_home")).status_code == 403
