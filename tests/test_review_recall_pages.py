"""The follow-up review and the recall list, written in Python (issue 18): each page is
its old template's byte for byte (the templates kept as the tests' references,
tests/reference/), rendered with the view's context for the same request, over the
branches the pages have (filters, pages, empty lists, capped counts, markup in names) and
in more than one language."""

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.template import engines
from django.urls import reverse

from tests.factories import PatientFactory, ProductLotFactory, at, book, clinician
from tests.test_recall import seen
from treatments import selectors, services
from treatments.models import FollowUp

pytestmark = pytest.mark.django_db

REFERENCES = Path(__file__).parent / "reference"
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=)"[^"]*"')


def as_the_reference_renders_it(response, reference: str, key: str) -> tuple[str, str]:
    """The page, and the reference rendered with the view's context for the same request
    (a CSRF token is masked anew each time it is written: compared without it)."""
    assert response.status_code == 200
    template = engines["django"].from_string((REFERENCES / reference).read_text())
    context = next(c for c in response.context if key in c).flatten()
    expected = template.render(context, response.wsgi_request)
    return CSRF.sub(r"\1", response.content.decode()), CSRF.sub(r"\1", expected)


@pytest.fixture(params=["en-gb", "de"])
def language(request, settings):
    """Staff read the site's language (clinic.middleware.ReaderLanguageMiddleware)."""
    settings.LANGUAGE_CODE = request.param
    return request.param


def _past_session(patient, day, doctor=None):
    session = book(patient, day, now=at(day - timedelta(days=30)), clinician_user=doctor)
    services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=at(day, 12),
    )
    return session


@pytest.fixture
def review_data():
    """Sessions whose follow-ups are done, overdue, due and planned later, for patients and
    a clinician with markup in their names."""
    doctor = clinician(first_name='Zoë <b>"&', last_name="O'Neil")
    sessions = [
        _past_session(PatientFactory(first_name="Ana & <i>", last_name=f"Patient{n}"), day, doctor)
        for n, day in enumerate((date(2026, 10, 1), date(2026, 11, 20), date(2026, 12, 28)))
    ]
    first = sessions[0].follow_ups.get(kind="aftercare_check")
    services.record_follow_up(
        follow_up=first, status="done", recorded_by=doctor, now=at(date(2026, 10, 8))
    )
    FollowUp.objects.filter(pk=sessions[1].follow_ups.order_by("due_date")[0].pk).update(
        status="missed"
    )
    return sessions


REVIEW_QUERIES = [
    {},
    {"status": "done"},
    {"status": "missed"},
    {"status": "due_now"},
    {"status": "week"},
    {"status": "all"},
    {"status": "all", "kind": "assessment"},
    {"status": "all", "page": 2},
    {"status": "all", "date_from": "2026-12-15", "date_to": "2027-03-02"},
    {"status": "all", "clinician": "nonsense", "date_from": "x", "kind": "<b>"},
    {"status": "<script>", "page": "-3", "extra": '"&<>'},
]


@pytest.mark.parametrize("query", REVIEW_QUERIES)
def test_the_review_is_its_templates_byte_for_byte(
    clinic_admin_client, review_data, query, language
):
    response = clinic_admin_client.get(reverse("follow_up_review"), query)
    page, expected = as_the_reference_renders_it(response, "follow_up_review.html", "counts")
    assert page == expected
    assert "Ana & <i>" not in page and "Zoë <b>" not in page  # names escaped where shown
    assert f'<html lang="{language}">' in page


def test_the_review_with_a_pager_capped_counts_and_a_clinician(
    clinic_admin_client, review_data, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 0)  # every card past its cap
    doctor = review_data[0].clinician
    for query in ({}, {"status": "all", "clinician": doctor.pk}, {"status": "all", "page": 3}):
        response = clinic_admin_client.get(reverse("follow_up_review"), query)
        page, expected = as_the_reference_renders_it(response, "follow_up_review.html", "counts")
        assert page == expected
    assert "more than 0" in page and 'aria-label="Pages"' in page


def test_the_review_with_nothing_at_all(clinic_admin_client, language):
    """No follow-up: nothing overdue (the note), nothing matches, no adherence figure."""
    for query in ({}, {"status": "overdue"}):
        response = clinic_admin_client.get(reverse("follow_up_review"), query)
        page, expected = as_the_reference_renders_it(response, "follow_up_review.html", "counts")
        assert page == expected
    assert 'id="count-adherence">–<' in page


@pytest.fixture
def recall_data():
    """Patients due (markup in their names and addresses, each way of reaching them, an
    outcome recorded or not) and one not yet due."""
    patients = []
    for n, (day, channels) in enumerate(
        [
            (date(2026, 5, 4), {"reminders_by_email": True, "reminders_by_sms": True}),
            (date(2026, 6, 1), {"reminders_by_email": False, "reminders_by_sms": False}),
            (date(2026, 7, 10), {"reminders_by_email": False, "reminders_by_sms": True}),
            (date(2026, 7, 20), {"non_essential_opt_out": True}),
            (date(2026, 9, 1), {}),  # due in March: only with more weeks
        ]
    ):
        patient = PatientFactory(
            first_name=f"Ana & <i>{n}",
            last_name=f'O\'Neil "{n}"',
            email=f"a{n}+<x>@example.com",
            **channels,
        )
        session = book(patient, day, now=at(day - timedelta(days=30)))
        patients.append(patient)
        if n == 0:
            seen(
                FollowUp.objects.filter(session=session), day + timedelta(days=30), patient_rating=7
            )
        if n == 1:  # seen, nothing measured
            seen(FollowUp.objects.filter(session=session), day + timedelta(days=8))
        if n == 2:
            first = FollowUp.objects.filter(pk=session.follow_ups.order_by("due_date")[0].pk)
            seen(first, day + timedelta(days=9), hair_density_per_cm2="150.5")
    return patients


RECALL_QUERIES = [
    {},
    {"weeks": 0},
    {"weeks": 1},
    {"weeks": 52},
    {"weeks": 9, "page": 2},
    {"weeks": "<b>&"},
    {"weeks": 99},
    {"weeks": -1, "page": "x"},
]


@pytest.mark.parametrize("query", RECALL_QUERIES)
def test_the_recall_list_is_its_templates_byte_for_byte(staff_client, recall_data, query, language):
    response = staff_client.get(reverse("recall"), query)
    page, expected = as_the_reference_renders_it(response, "recall.html", "weeks")
    assert page == expected
    assert "<i>" not in page and f'<html lang="{language}">' in page
    if language == "en-gb" and query == {"weeks": 52}:  # every branch of a row shown
        for shown in ("rated 7/10", "150.5 hairs/cm²", "no marketing", "SMS ", "seen ("):
            assert shown in page, page[page.index("<tbody>") :]


def test_the_recall_list_with_a_pager_and_with_nobody_due(staff_client, frozen, monkeypatch):
    from frontdesk.views import recall as view
    from ui import pagination

    def in_pages_of_two(read, number, per_page):
        return pagination.window_of(read, number, 2)

    response = staff_client.get(reverse("recall"))  # nobody due
    page, expected = as_the_reference_renders_it(response, "recall.html", "weeks")
    assert page == expected and "No patient is due." in page
    for n in range(5):
        book(PatientFactory(), date(2026, 5, 4 + n), now=at(date(2026, 4, 1)))
    monkeypatch.setattr(view, "window_of", in_pages_of_two)
    for number in (1, 2, 3):
        response = staff_client.get(reverse("recall"), {"page": number, "weeks": 3})
        page, expected = as_the_reference_renders_it(response, "recall.html", "weeks")
        assert page == expected and 'aria-label="Pages"' in page


def _pager_as_the_template_writes_it(response) -> str:
    from django.template.loader import get_template

    context = next(c for c in response.context if "pager" in c).flatten()
    return get_template("staff/_pagination.html").render(
        {"page": context["page"], "page_query": context.get("page_query", "")}
    )


def test_the_message_log_and_waitlist_pagers_are_the_templates(staff_client, monkeypatch):
    """Both pages write their pager with ui.pagination.pager_html, where they included
    staff/_pagination.html: the same bytes, in the same place (before the layout's end)."""
    from frontdesk.views import messages, waitlist
    from tests.test_waitlist import Clinic

    monkeypatch.setattr(messages, "PER_PAGE", 1)
    monkeypatch.setattr(waitlist, "PER_PAGE", 1)
    patient = PatientFactory()
    book(patient, date(2027, 3, 10))  # its reminders: a log of several pages
    clinic = Clinic()
    for n in range(3):
        clinic.wait(f"Waiting{n}", joined=at(date(2027, 1, 3), 9 + n))
    for url, query in [
        (reverse("message_log", args=[patient.pk]), {"page": 1}),
        (reverse("message_log", args=[patient.pk]), {"page": 2}),
        (reverse("staff_waitlist"), {}),
        (reverse("staff_waitlist"), {"page": 2, "site": clinic.site.pk}),
    ]:
        response = staff_client.get(url, query)
        assert response.status_code == 200
        html = response.content.decode()
        pager = _pager_as_the_template_writes_it(response)
        assert 'aria-label="Pages"' in pager and f"{pager}\n\n</main>" in html, url


def test_the_inbox_phones_and_failed_reminders_pagers_are_the_templates(
    clinic_admin_client, monkeypatch
):
    """As above, for the three lists paged by ui.pagination.window (a page of one row)."""
    from frontdesk.views import messages, reminders
    from patients.models import Patient
    from reminders.models import InboundKind, InboundMessage, Reminder
    from ui import pagination

    def in_pages_of_one(queryset, number, per_page):
        return pagination.window(queryset, number, 1)

    monkeypatch.setattr(messages, "window", in_pages_of_one)
    monkeypatch.setattr(reminders, "window", in_pages_of_one)
    for n in range(3):
        patient = PatientFactory(phone=f"12{n}")
        Patient.objects.filter(pk=patient.pk).update(phone_e164="")  # typed before checks
        InboundMessage.objects.create(
            kind=InboundKind.MESSAGE,
            provider_message_id=f"pager-{n}",
            from_number="+4915112345678",
            body="Hello",
        )
        book(patient, date(2027, 3, 10 + n))
    Reminder.objects.update(state="failed")
    for name in ("inbox", "phones_to_fix", "failed_reminders"):
        for number in (1, 2):
            response = clinic_admin_client.get(reverse(name), {"page": number})
            assert response.status_code == 200, name
            html = response.content.decode()
            pager = _pager_as_the_template_writes_it(response)
            assert 'aria-label="Pages"' in pager and f"{pager}\n\n</main>" in html, name
