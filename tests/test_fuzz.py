"""Property: no input gives an HTTP 500, on any page, for anyone (issue 9, item 5).

Hypothesis throws arbitrary text (NUL, huge numbers, unicode digits, bidi controls, very
long strings, impossible dates) mixed with plausible values (real ids, valid dates, the
fields' own choices, so that forms get past their first check) at every query parameter and
form field, by GET and by POST, at every page, as every role.

Nothing here lists the pages or their parameters by hand, so a new page is covered:
- the pages are the project's URLconf (the admin: each registered model's list, with its
  list filters and search);
- a page's parameters are the fields of the forms its view uses and the names it reads from
  request.GET / request.POST directly, found in the view's source and the project's helpers
  it calls (class-based views: their form_class); each field gets values aimed at its type
  (impossible dates for a date, unicode digits and 30-digit numbers for an id) and plausible
  ones (real ids, valid dates, its own choices) so that later checks are reached too;
- the path arguments are drawn from the ids of the objects made below and from any number.

Bounded time: FUZZ_EXAMPLES examples per page and role (3 for a role the page turns away
and for a page that reads no input), derandomized so CI is stable; FUZZ_EXAMPLES=200 in the
environment searches harder. A failing request rolls back alone (a savepoint), so one 500
does not hide the next.
"""

import inspect
import os
import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine
from django import forms
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import roles
from patients import services as patient_services
from reminders.models import Reminder
from tests.factories import NOW, PatientFactory, ProductLotFactory, UserFactory, at, book
from tests.test_query_counts import photo
from treatments import services
from treatments.models import ChangeRequest, SideEffectReport

ROOT = Path(__file__).resolve().parent.parent
# The project's own packages: every installed app that lives in this repository (so a new
# app is fuzzed without anyone remembering to add it here), and the wiring package.
PROJECT_APPS = (
    "clinic",
    *(
        config.label
        for config in django_apps.get_app_configs()
        if Path(config.path).is_relative_to(django_settings.BASE_DIR)
        and "site-packages" not in Path(config.path).parts  # a virtualenv inside the checkout
    ),
)
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
ROLES = ["anonymous", roles.CLINIC_STAFF, roles.CLINICIAN, roles.CLINIC_ADMIN, roles.PATIENT]

# --- The pages ----------------------------------------------------------------------------


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern) == "admin/":
                continue  # the admin: its lists, below
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name, (entry.pattern.converters, entry.callback)


def _pages():
    pages = dict(_walk(get_resolver().url_patterns))
    return sorted(pages.items())


PAGES = _pages()
ADMIN_LISTS = sorted(
    (model._meta.app_label, model._meta.model_name, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in PROJECT_APPS
)

# --- The parameters -----------------------------------------------------------------------

BY_HAND = re.compile(r"request\.(?:GET|POST)(?:\.get|\.getlist)?[\[(]\s*[\"'](\w+)[\"']")
IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")


def _ours(obj) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] in PROJECT_APPS


def _reads(func, seen=None) -> tuple[set, set]:
    """The forms a view uses and the names it reads by hand: from its source, following
    the project's own helpers it calls (e.g. ui.forms.page_number -> PageForm)."""
    seen = seen if seen is not None else set()
    func = inspect.unwrap(func)
    if func in seen:
        return set(), set()
    seen.add(func)
    source = inspect.getsource(func)
    found_forms, names = set(), set(BY_HAND.findall(source))
    for identifier in set(IDENTIFIER.findall(source)):
        obj = func.__globals__.get(identifier)
        if isinstance(obj, type) and issubclass(obj, forms.BaseForm):
            found_forms.add(obj)
        elif inspect.isfunction(obj) and _ours(obj):
            more_forms, more_names = _reads(obj, seen)
            found_forms |= more_forms
            names |= more_names
    return found_forms, names


def page_fields(callback) -> dict:
    """{parameter name: form fields of that name} for the page's view."""
    if hasattr(callback, "view_class"):  # a class-based view (django.contrib.auth's)
        kwargs = callback.view_initkwargs
        form_class = kwargs.get("authentication_form") or kwargs.get("form_class")
        form_class = form_class or getattr(callback.view_class, "form_class", None)
        found, names = ({form_class} if form_class else set()), {"next"}
    else:
        found, names = _reads(callback)
    fields = {name: [] for name in names}
    for form_class in found:
        try:  # built, its fields have their real choices (e.g. the clinicians)
            form_fields = form_class().fields
        except TypeError:  # needs more to be built (e.g. the session it is about)
            form_fields = form_class.base_fields
        for name, field in form_fields.items():
            fields.setdefault(name, []).append(field)
    return fields


BAD_DATES = ["0000-00-00", "2027-02-30", "2026-13-01", "0001-01-01", "9999-12-31", "1899-12-31"]
BAD_TIMES = ["25:00", "24:00", "12:61", "23:59:60", "-1:00"]
BAD_NUMBERS = ["²", "١٢٣", "𝟗", "9" * 30, "-" + "9" * 30, "-1", "0", "1.5", "1e309", "NaN"]
BAD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",
    "\u2066x\u2069",
    "x" * 10_000,
    "%00",
    "../../etc/passwd",
    "//evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\nSet-Cookie: x=1",
    "nowhere",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "=HYPERLINK(1)",
]
NASTY = BAD_DATES + BAD_TIMES + BAD_NUMBERS + BAD_TEXT

any_text = st.text(max_size=40)
# The classes of hostile input, one strategy each.
NUL = st.text(max_size=12).map(lambda t: t[: len(t) // 2] + "\x00" + t[len(t) // 2 :])
HUGE = st.one_of(
    st.sampled_from(["9" * 30, "-" + "9" * 30, str(2**63), str(2**31), "1e309", "NaN"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
UNICODE_DIGITS = st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)
BIDI = st.text(
    alphabet=st.sampled_from("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069ab"),
    min_size=1,
)
LONG = st.sampled_from([151, 256, 2001, 10_000, 20_000]).map(lambda n: "é" * n)
IMPOSSIBLE_DAYS = st.one_of(st.sampled_from(BAD_DATES), st.dates().map(date.isoformat))
IMPOSSIBLE_TIMES = st.sampled_from(BAD_TIMES)
ODD_TEXT = st.sampled_from(BAD_TEXT)
GARBAGE = st.one_of(st.sampled_from(NASTY), any_text)
near_day = st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)).map(str)


def _plausible(field, pks):
    """Values that pass this field's own parsing, so the fuzzing reaches the next check."""
    if isinstance(field, forms.ModelChoiceField | forms.ModelMultipleChoiceField):
        real = list(field.queryset.values_list("pk", flat=True)[:20]) if field.queryset else []
        return st.sampled_from(real or pks).map(str)
    if isinstance(field, forms.DateField):
        return st.one_of(near_day, st.sampled_from(["1900-01-01", "2199-12-31"]))
    if isinstance(field, forms.TimeField):
        return st.times().map(lambda t: t.strftime("%H:%M"))
    if isinstance(field, forms.BooleanField):
        return st.sampled_from(["on", ""])
    if isinstance(field, forms.UUIDField):
        return st.uuids().map(str)
    if isinstance(field, forms.IntegerField | forms.DecimalField):
        return st.integers(min_value=-2, max_value=12).map(str)
    if isinstance(field, forms.ChoiceField) and field.choices:
        return st.sampled_from([str(v) for v, _ in field.choices] or [""])
    if isinstance(field, forms.EmailField):
        return st.emails()
    return st.text(min_size=1, max_size=30)


def _hostile(field):
    """Input aimed at this kind of field (one branch per class of hostile input, so each
    class comes up often), and anything at all."""
    if isinstance(field, forms.DateField):
        aimed = [IMPOSSIBLE_DAYS, IMPOSSIBLE_DAYS, HUGE, NUL]
    elif isinstance(field, forms.TimeField):
        aimed = [IMPOSSIBLE_TIMES, IMPOSSIBLE_TIMES, UNICODE_DIGITS, NUL]
    elif isinstance(
        field,
        forms.ModelChoiceField
        | forms.ModelMultipleChoiceField
        | forms.IntegerField
        | forms.DecimalField,
    ):
        aimed = [HUGE, UNICODE_DIGITS, NUL]
    elif field is None:  # read by hand: its type is unknown, so aim at every type
        aimed = [NUL, HUGE, UNICODE_DIGITS, IMPOSSIBLE_DAYS, IMPOSSIBLE_TIMES, LONG, BIDI, ODD_TEXT]
    else:
        aimed = [NUL, LONG, BIDI, ODD_TEXT]
    return st.one_of(*aimed, GARBAGE)


def page_query(fields, pks):
    """A query for a page: every parameter it reads with a plausible value (now and then one
    left out), one or two of them hostile, and now and then a name it does not know."""
    names = sorted(fields)
    plausible, hostile = {}, {}
    for name, fs in fields.items():
        plausible[name] = st.one_of(*(_plausible(f, pks) for f in fs)) if fs else any_text
        hostile[name] = st.one_of(*(_hostile(f) for f in fs)) if fs else _hostile(None)

    @st.composite
    def build(draw):
        params = {name: [draw(plausible[name])] for name in names}
        for name in draw(st.sets(st.sampled_from(names), max_size=1)) if names else ():
            del params[name]
        targets = st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)
        for name in draw(targets) if names else ():
            params[name] = draw(st.lists(hostile[name], min_size=1, max_size=2))
        stranger = draw(st.dictionaries(any_text, st.lists(GARBAGE, max_size=2), max_size=1))
        return {**stranger, **params}

    return build()


# --- The data and the clients ---------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once for the module, inside a transaction rolled back at its end: a patient with
    a portal account, sessions past and future, follow-ups with a shared photo, a failed
    reminder, a side-effect report and a change request."""
    with django_db_blocker.unblock(), time_machine.travel(NOW, tick=False):
        with transaction.atomic():
            # Staff may open the admin site (as seed_demo makes them); the admin is a superuser.
            users = {
                role: UserFactory(
                    role=role,
                    is_staff=role != roles.PATIENT,
                    is_superuser=role == roles.CLINIC_ADMIN,
                )
                for role in ROLES[1:]
            }
            patient = PatientFactory()
            patient.user = users[roles.PATIENT]
            patient.save()
            doctor = users[roles.CLINICIAN]
            past = book(patient, date(2026, 10, 1), clinician_user=doctor, now=at(date(2026, 9, 1)))
            services.complete_session(
                session=past,
                vials=[(ProductLotFactory(), 1)],
                completed_by=doctor,
                now=at(date(2026, 10, 1), 12),
            )
            aftercare = past.follow_ups.get(kind="aftercare_check")
            services.record_follow_up(
                follow_up=aftercare,
                status="done",
                recorded_by=doctor,
                shared_with_patient=True,
                photos=[("top", photo())],
                now=at(date(2026, 10, 8)),
            )
            future = book(patient, date(2027, 4, 12), clinician_user=doctor)
            Reminder.objects.filter(session=future).update(state="failed")
            report = SideEffectReport.objects.create(patient=patient, description="itchy")
            change = ChangeRequest.objects.create(
                patient=patient, session=future, kind="reschedule"
            )
            token = patient_services.new_calendar_token(patient=patient)
            pks = sorted(
                {
                    *[u.pk for u in users.values()],
                    patient.pk,
                    past.pk,
                    future.pk,
                    past.room_id,
                    report.pk,
                    change.pk,
                    *past.follow_ups.values_list("pk", flat=True),
                    *aftercare.photos.values_list("pk", flat=True),
                    *Reminder.objects.values_list("pk", flat=True),
                    *past.lots.values_list("pk", flat=True),
                }
            )
            strings = [
                token,
                urlsafe_base64_encode(force_bytes(users[roles.PATIENT].pk)),
                default_token_generator.make_token(users[roles.PATIENT]),
                "set-password",
            ]
            yield {"users": users, "pks": pks, "strings": strings}
            transaction.set_rollback(True)


@pytest.fixture
def clients(world, db):
    made = {"anonymous": Client()}
    for role, user in world["users"].items():
        made[role] = Client()
        made[role].force_login(user)
    return made


def _send(clients, users, role, method, path, params):
    client = clients[role]
    if method == "post":  # a POST carries them in the query string too (pages read both)
        path = f"{path}?{urlencode(params, doseq=True)}"
    with transaction.atomic():  # a failing request rolls back alone, not the whole test
        response = getattr(client, method)(path, params)
    assert response.status_code < 500, (role, method, path, params)
    # Every answer, whatever the input or the role, carries the Content-Security-Policy.
    assert "default-src 'self'" in response.get("Content-Security-Policy", ""), (method, path)
    if role in users and not client.cookies.get(django_settings.SESSION_COOKIE_NAME).value:
        client.force_login(users[role])  # signed out by the fuzz (the sign-out page): again


def fuzz(examples):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _budget(client, path, *, reads_input=True) -> int:
    """Every role is fuzzed; a role the page turns away (to the sign-in page, or 403), or a
    page that reads no input, only lightly: the examples go where the view's code runs."""
    response = client.get(path)
    turned_away = response.status_code == 403 or (
        response.status_code == 302 and response["Location"].startswith(reverse("login") + "?")
    )
    return FUZZ_EXAMPLES if reads_input and not turned_away else max(3, FUZZ_EXAMPLES // 8)


def _path_args(converters, world):
    args = {}
    for name, converter in converters.items():
        if converter.regex == "[0-9]+":
            args[name] = st.one_of(
                st.sampled_from(world["pks"]), st.integers(min_value=0, max_value=10**30)
            )
        else:
            args[name] = st.one_of(
                st.sampled_from(world["strings"]),
                st.sampled_from(["\x00", "a\x00", "²", "\u202e", "x" * 5000]),
                st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s),
            )
    return st.fixed_dictionaries(args)


@pytest.mark.parametrize(("name", "page"), PAGES, ids=[name for name, _ in PAGES])
def test_no_page_answers_500(name, page, world, clients):
    converters, callback = page
    fields = page_fields(callback)
    probe = reverse(name, kwargs={k: world["pks"][0] for k in converters})
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        for role in ROLES:

            @fuzz(_budget(clients[role], probe, reads_input=bool(fields or converters)))
            @given(
                kwargs=_path_args(converters, world),
                role=st.just(role),
                method=st.sampled_from(["get", "post"]),
                params=page_query(fields, world["pks"]),
            )
            def check(kwargs, role, method, params):
                path = reverse(name, kwargs=kwargs)
                _send(clients, world["users"], role, method, path, params)

            check()


@pytest.mark.parametrize(
    ("app", "model", "model_admin"), ADMIN_LISTS, ids=[f"{a}.{m}" for a, m, _ in ADMIN_LISTS]
)
def test_no_admin_list_answers_500(app, model, model_admin, world, clients):
    """The admin's lists: every list filter's parameter names, the search and the order."""
    names = {"q", "o", "p", "all", "e", "_popup", "_to_field"}
    for spec in model_admin.list_filter:
        field = spec[0] if isinstance(spec, tuple) else spec
        if isinstance(field, str):
            names |= {
                f"{field}__{lookup}"
                for lookup in ("exact", "gte", "lt", "isnull", "id__exact", "in", "iexact")
            }
            names.add(field)
    fields = {n: [forms.CharField()] for n in names}
    path = reverse(f"admin:{app}_{model}_changelist")
    for role in ROLES:

        @fuzz(_budget(clients[role], path))
        @given(role=st.just(role), params=page_query(fields, world["pks"]))
        def check(role, params):
            _send(clients, world["users"], role, "get", path, params)

        check()


def test_the_fuzzing_finds_what_each_page_reads(db):
    """The discovery finds what a reader would list by hand (so it will find new ones)."""
    pages = dict(PAGES)
    assert {"schedule", "session_book", "portal_calendar_feed", "login", "patient_list"} <= set(
        pages
    )

    def reads(name):
        return set(page_fields(pages[name][1]))

    assert {"day", "view", "clinician", "room"} <= reads("schedule")
    assert {"q", "page"} <= reads("patient_list")
    assert {"page", "status", "date_from"} <= reads("follow_up_review")
    assert {"day", "time"} <= reads("session_preview")
    assert {"day", "time", "clinician", "room", "booking_key"} <= reads("session_book")
    assert {"follow_up", "next"} <= reads("follow_up_mark_missed")
    assert {"username", "password", "next"} <= reads("login")
    assert {"action"} <= reads("portal_calendar_token")
    assert {"note"} <= reads("resolve_side_effect")
    assert {"page", "reads"} <= reads("patient_history")
    assert {"page", "reads"} <= reads("session_history")
    assert ADMIN_LISTS
