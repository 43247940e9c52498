"""The recall list: patients due for their next session with nothing booked."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format, localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import npgettext, pgettext

from accounts.decorators import permission_required
from frontdesk.forms import DueForRecallForm
from treatments import recall
from ui.forms import page_number
from ui.nav import where
from ui.pagination import pager_html, window_of
from ui.rows import decimal_maker, escaped, link_maker, padded_day, staff_said

from .common import now_and_today


@permission_required("treatments.add_treatmentsession")
def recall_list(request):
    form = DueForRecallForm(request.GET or None)
    weeks = form.weeks_or_default()
    _, today = now_and_today()

    def read(start: int, stop: int) -> list:
        return recall.due_rows(today=today, within_weeks=weeks, start=start, stop=stop)

    with recall.serial_plan():
        page = window_of(read, page_number(request.GET), 50)
    w = _words(where())
    rows = _rows(page, today, w)
    page_query = urlencode({"weeks": weeks})
    return render(
        request,
        "staff/recall.html",
        {
            # What tests/reference/recall.html renders the page from:
            "page": page,
            "rows": rows,
            "form": form,
            "weeks": weeks,
            "today": today,
            "page_query": page_query,
            # What the page is rendered from:
            "title": SafeString(w.title),  # a translated literal, HTML as in a template
            "content": _content(form, weeks, today, rows, w),
            "pager": pager_html(page, page_query),
        },
    )


@dataclass(frozen=True)
class _Words:
    """The rows' texts in the reader's language (escaped where they are HTML) and the
    patient link: the same on every request in a language, so looked up once (`_words`)."""

    patient_link: Callable[[int], str]
    now: str
    rated: str
    density: str
    seen: str
    none: str
    by_email: str
    by_sms: str
    by_phone: str
    opt_out: str
    title: str
    head: str  # the page's start, to the weeks field's value
    form_end: str  # after the weeks field's value, to the form's end
    weeks_error: str  # "%(value)s Showing %(weeks)s weeks."
    links: str  # after the heading's <div>, to the explanation's text
    table_start: str  # after the explanation's text, to the rows
    no_patient: str
    table_end: str


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language and URLs the words and link depend on."""
    # Outside the f-strings below: makemessages does not look inside an f-string.
    no_follow_up = pgettext("staff", "no follow-up yet")
    no_marketing = pgettext("staff", "no marketing")
    t = {
        "title": pgettext("staff", "Recall: patients due"),
        "heading": pgettext("staff", "Patients due for a session"),
        "within": pgettext("staff", "Due within (weeks)"),
        "show": pgettext("staff", "Show"),
        "requests": pgettext("staff", "Booking requests from the portal"),
        "waitlist": pgettext("staff", "The waitlist"),
        "patients_due": pgettext("staff", "Patients due"),
        "patient": pgettext("staff", "Patient"),
        "last_session": pgettext("staff", "Last session"),
        "due_from": pgettext("staff", "Due from"),
        "outcome": pgettext("staff", "Outcome so far"),
        "contact": pgettext("staff", "Contact"),
        "no_patient": pgettext("staff", "No patient is due."),
    }
    return _Words(
        patient_link=link_maker("patient_detail"),
        now=escaped(pgettext("staff", "now")),
        rated=pgettext("staff", "rated %(rating)s/10"),
        density=pgettext("staff", "%(density)s hairs/cm²"),
        seen=pgettext("staff", "seen"),
        none=f'<span class="text-muted">{escaped(no_follow_up)}</span>',
        by_email=pgettext("staff", "email %(email)s"),
        by_sms=pgettext("staff", "SMS %(phone)s"),
        by_phone=pgettext("staff", "phone %(phone)s"),
        opt_out=(f' <span class="badge text-bg-secondary">{escaped(no_marketing)}</span>'),
        title=t["title"],
        head=(
            '\n<div class="d-flex flex-wrap gap-2 align-items-end mb-3">\n'
            f'  <h1 class="h3 mb-0 me-3">{t["heading"]}</h1>\n'
            '  <form method="get" class="d-flex gap-2 align-items-end" id="recall-form">\n'
            f'    <div><label class="form-label" for="id_weeks">{t["within"]}</label>\n'
            '    <input id="id_weeks" class="form-control" type="number" name="weeks" min="0" '
            'max="52" value="'
        ),
        form_end=(
            '"></div>\n'
            f'    <button class="btn btn-outline-primary" type="submit">{t["show"]}</button>\n'
            "  </form>"
        ),
        weeks_error=pgettext("staff", "%(value)s Showing %(weeks)s weeks."),
        links=(
            "\n</div>\n"
            f'<p><a href="{reverse("booking_requests")}">{t["requests"]}</a> · '
            f'<a href="{reverse("staff_waitlist")}">{t["waitlist"]}</a></p>\n'
            '<p class="text-muted">'
        ),
        table_start=(
            "</p>\n"
            '<div class="table-responsive" tabindex="0" role="region" '
            f'aria-label="{t["patients_due"]}"><table class="table table-striped" id="recall">\n'
            f"  <thead><tr><th>{t['patient']}</th><th>{t['last_session']}</th>"
            f"<th>{t['due_from']}</th><th>{t['outcome']}</th><th>{t['contact']}</th>"
            "</tr></thead>\n  <tbody>\n  "
        ),
        no_patient=f'<tr><td colspan="5" class="text-muted">{t["no_patient"]}</td></tr>',
        table_end="\n  </tbody>\n</table></div>",
    )


def _content(form, weeks: int, today: date, rows: SafeString, w: _Words) -> SafeString:
    """The page's content (tests/reference/recall.html's, but for its pager), written in
    Python, every value escaped."""
    errors = form["weeks"].errors
    explanation = npgettext(
        "staff",
        "The six-month gap since their last session ends by %(today)s plus %(weeks)s week, "
        "and nothing is booked. The reminder they receive links to self-booking in the portal.",
        "The six-month gap since their last session ends by %(today)s plus %(weeks)s weeks, "
        "and nothing is booked. The reminder they receive links to self-booking in the portal.",
        weeks,
    )
    parts = [
        w.head,
        escaped(localize(weeks)),
        w.form_end,
        '<div class="text-danger small" id="weeks-error">'
        f"{staff_said(w.weeks_error, value=errors[0], weeks=weeks)}</div>"
        if errors
        else "",
        w.links,
        staff_said(explanation, today=date_format(today, "j M Y"), weeks=weeks),
        w.table_start,
        rows or w.no_patient,
        w.table_end,
    ]
    return SafeString("".join(parts))  # every value escaped above


def _rows(page, today: date, w: _Words) -> SafeString:
    """The table's rows written once in Python, every value escaped (ui.rows.escaped,
    as Django's `escape`), spaced as the template's loop spaced them: per row, format_html's
    lazy-aware escaping of seven values and the template's loop took most of the page's
    time. The texts keep their "staff" msgids (`_words`)."""
    decimal = decimal_maker()
    rows = []
    for p in page:
        # The outcome so far: rated 8/10, 150.0 hairs/cm² (01 Sep 2026); seen (…); or none.
        if p["seen_on"]:
            found = []
            if p["rating"]:
                found.append(w.rated % {"rating": p["rating"]})
            if p["density"]:
                found.append(w.density % {"density": decimal(p["density"])})
            outcome = escaped(f"{', '.join(found) or w.seen} ({padded_day(p['seen_on'])})")
        else:
            outcome = w.none
        # How to reach them: the channels their reminders go by, else their phone.
        found = []
        if p["reminders_by_email"]:
            found.append(w.by_email % {"email": p["email"]})
        if p["reminders_by_sms"]:
            found.append(w.by_sms % {"phone": p["phone"]})
        contact = escaped("; ".join(found) or w.by_phone % {"phone": p["phone"] or "–"})
        if p["non_essential_opt_out"]:
            contact += w.opt_out
        due = w.now if p["due_day"] <= today else padded_day(p["due_day"])
        rows.append(
            f'\n    <tr><td><a href="{w.patient_link(p["pk"])}">'
            f"{escaped(p['last_name'])}, {escaped(p['first_name'])}</a></td>"
            f"<td>{padded_day(p['last_day'])}</td><td>{due}</td>"
            f"<td>{outcome}</td><td>{contact}</td></tr>\n  "
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value escaped above
