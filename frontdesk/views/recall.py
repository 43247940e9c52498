"""The recall list: patients due for their next session with nothing booked."""

from urllib.parse import urlencode

from django.shortcuts import render
from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import DueForRecallForm
from treatments import recall
from ui.forms import page_number
from ui.pagination import window
from ui.rows import link_maker, padded_day

from .common import now_and_today

# What the page shows of a patient (not the whole row: fewer fields to read and build).
SHOWN = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "reminders_by_email",
    "reminders_by_sms",
    "non_essential_opt_out",
)
# One row of the list (templates/staff/recall.html prints them).
_ROW = (
    '<tr><td><a href="{url}">{last_name}, {first_name}</a></td><td>{last_day}</td>'
    "<td>{due}</td><td>{outcome}</td><td>{contact}</td></tr>"
)


@permission_required("treatments.add_treatmentsession")
def recall_list(request):
    form = DueForRecallForm(request.GET or None)
    weeks = form.weeks_or_default()
    _, today = now_and_today()
    patients = recall.due_patients(today=today, within_weeks=weeks).only(*SHOWN)
    with recall.serial_plan():
        page = window(patients, page_number(request.GET), 50)
    _prepare_rows(page, today)
    return render(
        request,
        "staff/recall.html",
        {
            "page": page,
            "form": form,
            "weeks": weeks,
            "today": today,
            "page_query": urlencode({"weeks": weeks}),
        },
    )


def _prepare_rows(page, today) -> None:
    """Each row's HTML once in Python, escaped by format_html (`p.row`): the row template
    with its per-row {% blocktranslate %}, {% url %} and date filters took most of the
    page's time. The texts keep their "staff" msgids, translated once a page."""
    patient_link = link_maker("patient_detail")
    words = {
        "now": pgettext("staff", "now"),
        "rated": pgettext("staff", "rated %(rating)s/10"),
        "density": pgettext("staff", "%(density)s hairs/cm²"),
        "seen": pgettext("staff", "seen"),
        "none": format_html(
            '<span class="text-muted">{}</span>', pgettext("staff", "no follow-up yet")
        ),
        "email": pgettext("staff", "email %(email)s"),
        "sms": pgettext("staff", "SMS %(phone)s"),
        "phone": pgettext("staff", "phone %(phone)s"),
        "opt_out": format_html(
            ' <span class="badge text-bg-secondary">{}</span>', pgettext("staff", "no marketing")
        ),
    }
    for p in page:
        p.row = format_html(
            _ROW,
            url=patient_link(p.pk),
            last_name=p.last_name,
            first_name=p.first_name,
            last_day=padded_day(p.last_day),
            due=words["now"] if p.due_day <= today else padded_day(p.due_day),
            outcome=_outcome(p, words),
            contact=_contact(p, words),
        )


def _outcome(p, words) -> str:
    """rated 8/10, 150.00 hairs/cm² (01 Sep 2026); seen (…); or "no follow-up yet"."""
    if not p.seen_on:
        return words["none"]
    found = []
    if p.rating:
        found.append(words["rated"] % {"rating": p.rating})
    if p.density:
        found.append(words["density"] % {"density": localize(p.density)})
    return f"{', '.join(found) or words['seen']} ({padded_day(p.seen_on)})"


def _contact(p, words):
    """email …; SMS … (the channels their reminders go by), else phone …; "no marketing"."""
    found = []
    if p.reminders_by_email:
        found.append(words["email"] % {"email": p.email})
    if p.reminders_by_sms:
        found.append(words["sms"] % {"phone": p.phone})
    text = "; ".join(found) or words["phone"] % {"phone": p.phone or "–"}
    return format_html("{}{}", text, words["opt_out"] if p.non_essential_opt_out else "")
