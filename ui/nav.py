"""The site's navigation (base.html's menu bar): which links each role sees, in which order,
and which pages mark a link as the current one (aria-current).

Every page renders the menu, so it is built in Python, not with a template tag per link: a
`{% url %}`, a `{% translate %}` and a `may.<perm>` lookup per link cost about 2 ms a page.
Here each (roles, language, URLconf) has its menu made once per process (links reversed,
labels translated and escaped); a request only adds aria-current and the Inbox's unread
count. What a role sees is what its grants say (accounts.roles.role_grants), as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.formats import localize
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_lazy, pgettext, pgettext_lazy

from accounts import roles

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PATIENTS = "patient"  # shown to a patient (accounts.roles.is_patient), not a permission


@dataclass(frozen=True)
class Link:
    url_name: str
    label: StrOrPromise  # lazy: translated in the reader's language
    shown_to: str  # "app.codename" the roles must grant, or PATIENTS
    current: tuple[str, ...] = ()  # the url names of the pages this link is "current" on
    badge: bool = False  # the Inbox's unread count


# The menu, left to right.
LINKS = (
    Link(
        "schedule",
        pgettext_lazy("staff", "Schedule"),
        "treatments.view_treatmentsession",
        ("schedule", "session_detail", "session_complete"),
    ),
    Link(
        "patient_list",
        pgettext_lazy("staff", "Patients"),
        "patients.view_patient",
        ("patient_list", "patient_detail", "patient_create", "session_book"),
    ),
    Link(
        "recall", pgettext_lazy("staff", "Recall"), "treatments.add_treatmentsession", ("recall",)
    ),
    Link(
        "portal_home",
        gettext_lazy("My session"),
        PATIENTS,
        ("portal_home", "portal_request_change", "portal_book", "portal_cancel"),
    ),
    Link("portal_intake", gettext_lazy("Questionnaire"), PATIENTS, ("portal_intake",)),
    Link("portal_aftercare", gettext_lazy("Aftercare"), PATIENTS, ("portal_aftercare",)),
    Link("portal_follow_ups", gettext_lazy("Follow-ups"), PATIENTS, ("portal_follow_ups",)),
    Link(
        "portal_consents",
        gettext_lazy("Consents"),
        PATIENTS,
        ("portal_consents", "portal_consent", "portal_consent_sign", "portal_consent_withdraw"),
    ),
    Link("portal_preferences", gettext_lazy("Preferences"), PATIENTS, ("portal_preferences",)),
    Link(
        "lot_list",
        pgettext_lazy("staff", "Lots"),
        "treatments.view_productlot",
        ("lot_list", "lot_detail", "recall_report"),
    ),
    Link("inbox", pgettext_lazy("staff", "Inbox"), "reminders.read_inbox", ("inbox",), badge=True),
    Link(
        "follow_up_review",
        pgettext_lazy("staff", "Follow-up review"),
        "treatments.review_followup",
        ("follow_up_review", "follow_up_record"),
    ),
    Link(
        "failed_reminders",
        pgettext_lazy("staff", "Failed reminders"),
        "reminders.monitor_delivery",
        ("failed_reminders",),
    ),
    Link(
        "delivery_status",
        pgettext_lazy("staff", "Delivery status"),
        "reminders.monitor_delivery",
        ("delivery_status",),
    ),
    Link("admin:index", pgettext_lazy("staff", "Back office"), "accounts.use_back_office"),
)
# The buttons on the right, for anyone signed in (not while a second factor is owed).
ACCOUNT_LINKS = (
    Link("password_change", gettext_lazy("Password"), "", ("password_change",)),
    Link(
        "two_factor",
        gettext_lazy("Two-factor"),
        "",
        ("two_factor", "two_factor_setup", "two_factor_remove"),
    ),
)


@dataclass(frozen=True)
class _Made:
    """A link as HTML, around the place of aria-current (and the badge)."""

    start: str  # <li…><a … href="…"
    label: str  # >Label
    end: str  # </a></li>
    current: frozenset[str]
    badge: bool


def where() -> tuple[str, str, str]:
    """What the links' text depends on besides the roles: the language and the URLs."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    return get_language() or "", get_script_prefix(), str(urlconf)


@lru_cache(maxsize=64)
def _menu(role_set: frozenset[str], superuser: bool, where: tuple[str, str, str]) -> tuple:
    user = _Grantee(role_set, superuser)
    patient = roles.is_patient(user)
    made = []
    for link in LINKS:
        shown = patient if link.shown_to == PATIENTS else roles.role_grants(user, link.shown_to)
        if shown:
            made.append(_make(link, '<li class="nav-item"><a class="nav-link"', "</a></li>"))
    return tuple(made)


@lru_cache(maxsize=16)
def _account_links(where: tuple[str, str, str]) -> tuple:
    return tuple(
        _make(link, '<a class="btn btn-sm btn-outline-light me-2"', "</a>")
        for link in ACCOUNT_LINKS
    )


@lru_cache(maxsize=16)
def url(name: str, where: tuple[str, str, str]) -> str:
    """reverse(name), once per process (a URL with no arguments)."""
    return reverse(name)


def _make(link: Link, start: str, end: str) -> _Made:
    return _Made(
        f'{start} href="{escape(reverse(link.url_name))}"',
        f">{escape(link.label)}",
        end,
        frozenset(link.current),
        link.badge,
    )


class _Grantee:
    """A user as accounts.roles sees one: the roles, active, superuser."""

    is_authenticated = True
    is_active = True

    def __init__(self, role_set: frozenset[str], superuser: bool):
        self._clinic_roles = set(role_set)
        self.is_superuser = superuser


def _render(links, here: str | None, unread: Callable[[], int]) -> SafeString:
    parts = []
    for link in links:
        parts.append(link.start)
        if here in link.current:
            parts.append(' aria-current="page"')
        parts.append(link.label)
        if link.badge:
            count = unread()
            if count:
                unread_text = pgettext("staff", "unread")
                parts.append(
                    f' <span class="badge text-bg-warning">{escape(localize(count))}'
                    f'<span class="visually-hidden"> {escape(unread_text)}</span></span>'
                )
        parts.append(link.end)
    return mark_safe("".join(parts))  # noqa: S308 (escaped above, our own markup)


def menu(user, here: str | None, unread: Callable[[], int]) -> SafeString:
    """The menu's <li> items this user sees, `here` (the page's url name) marked current;
    `unread()` (the Inbox's unread count, one COUNT on a partial index) is asked only when
    the Inbox link shows."""
    role_set = frozenset(roles.roles_of(user))
    superuser = bool(user.is_active and user.is_superuser)
    return _render(_menu(role_set, superuser, where()), here, unread)


def account_links(here: str | None) -> SafeString:
    """The Password and Two-factor buttons."""
    return _render(_account_links(where()), here, _no_count)


def _no_count() -> int:
    return 0
