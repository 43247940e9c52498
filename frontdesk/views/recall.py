"""The recall list: patients due for their next session with nothing booked."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import DueForRecallForm
from treatments import recall
from ui.forms import page_number
from ui.nav import where
from ui.pagination import window_of
from ui.rows import decimal_maker, escaped, link_maker, padded_day

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
    return render(
        request,
        "staff/recall.html",
        {
            "page": page,
            "rows": _rows(page, today),
            "form": form,
            "weeks": weeks,
            "today": today,
            "page_query": urlencode({"weeks": weeks}),
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


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language and URLs the words and link depend on."""
    # Outside the f-strings below: makemessages does not look inside an f-string.
    no_follow_up = pgettext("staff", "no follow-up yet")
    no_marketing = pgettext("staff", "no marketing")
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
    )


def _rows(page, today: date) -> SafeString:
    """The table's rows written once in Python, every value escaped (ui.rows.escaped,
    as Django's `escape`), spaced as the template's loop spaced them: per row, format_html's
    lazy-aware escaping of seven values and the template's loop took most of the page's
    time. The texts keep their "staff" msgids (`_words`)."""
    w, decimal = _words(where()), decimal_maker()
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
