"""The menu bar every page shows (ui.nav, base.html): the links each role sees, in order,
the current page marked for screen readers, the patients' labels in their language and the
Inbox's unread count. (No links while a second factor is owed: tests/test_two_factor.py.)"""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FRONT_DESK = ["schedule", "patient_list", "recall", "lot_list", "inbox"]
PORTAL = [
    "portal_home",
    "portal_intake",
    "portal_aftercare",
    "portal_follow_ups",
    "portal_consents",
    "portal_preferences",
]
ADMIN = FRONT_DESK + [
    "follow_up_review",
    "failed_reminders",
    "delivery_status",
    "admin:index",
]
MENU = re.compile(r'<ul class="navbar-nav me-auto">(.*?)</ul>', re.S)
LINK = re.compile(r'<a class="nav-link" href="([^"]*)"( aria-current="page")?>(.*?)</a>', re.S)


def menu(html: str) -> list[tuple[str, bool, str]]:
    found = MENU.search(html)
    assert found, "no menu"
    return [(href, bool(current), label) for href, current, label in LINK.findall(found[1])]


def client_for(role=None, **fields) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role, **fields) if role else UserFactory(**fields))
    return client


@pytest.mark.parametrize(
    ("role", "page", "names"),
    [
        (roles.CLINIC_STAFF, "schedule", FRONT_DESK),
        (roles.CLINICIAN, "patient_list", FRONT_DESK),
        (roles.CLINIC_ADMIN, "follow_up_review", ADMIN),
        (roles.PATIENT, "portal_intake", PORTAL),
    ],
)
def test_each_role_sees_its_links_and_the_current_page(frozen, role, page, names):
    html = client_for(role).get(reverse(page), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    shown = menu(html)
    assert [href for href, _, _ in shown] == [reverse(name) for name in names]
    assert [href for href, current, _ in shown if current] == [reverse(page)]


def test_a_superuser_sees_the_admins_links(frozen):
    html = client_for(is_superuser=True).get(reverse("schedule")).content.decode()
    assert [href for href, _, _ in menu(html)] == [reverse(name) for name in ADMIN]


def test_a_page_under_a_link_marks_it_current(frozen, staff_client):
    shown = menu(staff_client.get(reverse("patient_create")).content.decode())
    assert [href for href, current, _ in shown if current] == [reverse("patient_list")]


@pytest.mark.parametrize("language", ["de", "tr"])
def test_a_patient_reads_the_menu_in_their_language(frozen, language):
    html = client_for(roles.PATIENT).get(reverse("portal_home"), HTTP_ACCEPT_LANGUAGE=language)
    labels = [label for _, _, label in menu(html.content.decode())]
    with translation.override(language):
        from django.utils.translation import gettext

        wanted = [gettext(text) for text in ("My session", "Questionnaire", "Preferences")]
    assert wanted[1] != "Questionnaire"
    assert [labels[0], labels[1], labels[5]] == wanted
    # The same process serves the next reader in English.
    html = client_for(roles.PATIENT).get(reverse("portal_home"), HTTP_ACCEPT_LANGUAGE="en")
    assert menu(html.content.decode())[1][2] == "Questionnaire"


def test_the_inbox_link_shows_the_unread_count(frozen, staff_client):
    from reminders.models import InboundKind, InboundMessage

    def inbox_label():
        shown = menu(staff_client.get(reverse("schedule")).content.decode())
        return next(label for href, _, label in shown if href == reverse("inbox"))

    assert inbox_label() == "Inbox"
    InboundMessage.objects.create(
        kind=InboundKind.MESSAGE,
        provider_message_id="nav-1",
        from_number="+4915112345678",
        body="Hello",
    )
    assert inbox_label() == (
        'Inbox <span class="badge text-bg-warning">1'
        '<span class="visually-hidden"> unread</span></span>'
    )
