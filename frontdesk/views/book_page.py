"""The booking page's title and content, written in Python (issue 18): its translations,
`url` tags and `date` filter cost more than the rest of the page. Byte for byte what
staff/session_book.html wrote (kept as tests/reference/session_book.html, compared in
tests/test_views_booking.py); the form is `ui.forms.bootstrap_form`'s, as there."""

from dataclasses import dataclass
from functools import lru_cache

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import pgettext

from treatments.formatting import formatted_day
from ui.csrf import page_token
from ui.forms import bootstrap_form
from ui.nav import where
from ui.rows import escaped, staff_said


@dataclass(frozen=True)
class _Words:
    title: str  # "Book a session for %(full_name)s"
    heading: str
    free_that_day: str
    no_free_time: str
    book: str
    back: str
    next_slots: str
    at_site: str  # "at %(name)s"
    site: str
    show: str
    times_allowed: str
    first_possible: str
    use_slot: str
    no_slot: str
    before: str
    earliest: str
    prescribed: str  # "Prescribed NSAID: %(prescribed_nsaid)s. …"
    choose_date: str


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language (and URLs) the words depend on. Each msgid as
    the template had it (the literals are HTML there, as here)."""
    return _Words(
        title=pgettext("staff", "Book a session for %(full_name)s"),
        heading=pgettext("staff", "Book a session for"),
        free_that_day=pgettext("staff", "Free that day for this clinician and room:"),
        no_free_time=pgettext(
            "staff", "No free time that day for this clinician and room; try another day."
        ),
        book=pgettext("staff", "Book session"),
        back=pgettext("staff", "Back"),
        next_slots=pgettext("staff", "Next free slots"),
        at_site=pgettext("staff", "at %(name)s"),
        site=pgettext("staff", "Site"),
        show=pgettext("staff", "Show"),
        times_allowed=pgettext(
            "staff",
            "Times the protocol allows for this patient, with a clinician and a room free. "
            "Choosing one fills the form; nothing is booked until you book it.",
        ),
        first_possible=pgettext("staff", "First possible:"),
        use_slot=pgettext("staff", "Use this slot"),
        no_slot=pgettext(
            "staff",
            "No free slot in the month from the earliest allowed date. Use the form, or ask "
            "the clinic admin about opening and working hours.",
        ),
        before=pgettext("staff", "Before you book"),
        earliest=pgettext("staff", "Earliest allowed date:"),
        prescribed=pgettext(
            "staff",
            "Prescribed NSAID: %(prescribed_nsaid)s. A clinician must record a decision.",
        ),
        choose_date=pgettext("staff", "Choose a date to see its NSAID window."),
    )


def title_and_content(request, c: dict) -> tuple[SafeString, SafeString]:
    """The page's title and content from the view's context `c` (form, patient,
    eligibility, free_slots, next_slots, site, sites), as the template wrote them: every
    value escaped as it escaped them. Sets the context's `csrf_token`: the response's one
    token (ui.csrf.page_token), which the layout's sign-out form writes too."""
    c["csrf_token"] = page_token(request)
    w = _words(where())
    patient = c["patient"]
    full_name = escaped(patient.full_name)
    record = reverse("patient_detail", args=[patient.pk])
    free_slots, sites, site = c["free_slots"], c["sites"], c["site"]
    if free_slots:
        free = (
            f'<div class="alert alert-info" id="free-slots">{w.free_that_day} '
            f"<strong>{escaped(free_slots.text)}</strong>.</div>"
        )
    elif free_slots is not None:
        free = f'<div class="alert alert-secondary" id="free-slots">{w.no_free_time}</div>'
    else:
        free = ""
    several = len(sites) > 1
    at = f" {staff_said(w.at_site, name=site.name if site else '')}" if several else ""
    parts = [
        f'\n<h1 class="h3">{w.heading} <a href="{record}">{full_name}</a></h1>\n'
        '<div class="row g-3">\n  <div class="col-lg-7">\n'
        '    <form method="post" id="booking-form" data-preview-url="'
        f'{reverse("session_preview", args=[patient.pk])}">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escaped(c["csrf_token"])}">'
        f"\n      {free}\n      {bootstrap_form(c['form'])}\n"
        f'      <button class="btn btn-primary" type="submit" id="book-button">{w.book}</button>\n'
        f'      <a class="btn btn-link" href="{record}">{w.back}</a>\n'
        '    </form>\n  </div>\n  <div class="col-lg-5">\n'
        '    <section class="card mb-3" id="next-slots" aria-labelledby="next-slots-title">'
        '<div class="card-body">\n'
        f'      <h2 class="h6" id="next-slots-title">{w.next_slots}{at}</h2>\n      '
    ]
    if several:
        chosen = site.pk if site is not None else None
        options = "".join(
            f'<option value="{escaped(s.pk)}"{" selected" if s.pk == chosen else ""}>'
            f"{escaped(s.name)}</option>"
            for s in sites
        )
        parts.append(
            '\n      <form method="get" class="d-flex gap-2 align-items-end mb-2">\n'
            '        <div><label class="form-label small mb-0" for="slot-site">'
            f"{w.site}</label>\n"
            '        <select class="form-select form-select-sm" name="site" id="slot-site">'
            f"{options}</select></div>\n"
            '        <button class="btn btn-sm btn-outline-secondary" type="submit">'
            f"{w.show}</button>\n      </form>\n      "
        )
    parts.append("\n      ")
    next_slots = c["next_slots"]
    if next_slots:
        rows = "".join(
            '\n        <li class="d-flex justify-content-between align-items-center gap-2 py-1 '
            'border-bottom slot">\n          <span>'
            f"{f'<strong>{w.first_possible}</strong> ' if n == 0 else ''}{escaped(slot['text'])}"
            '</span>\n          <a class="btn btn-sm btn-outline-primary text-nowrap" '
            f'href="{escaped(slot["href"])}" aria-label="{escaped(slot["label"])}">'
            f"{w.use_slot}</a>\n        </li>"
            for n, slot in enumerate(next_slots)
        )
        parts.append(
            f'\n      <p class="small text-muted mb-2">{w.times_allowed}</p>\n'
            f'      <ul class="list-unstyled mb-0">{rows}\n      </ul>\n      '
        )
    else:
        parts.append(f'\n      <p class="mb-0 text-muted" id="no-slots">{w.no_slot}</p>\n      ')
    eligibility = c["eligibility"]
    nsaid = (
        f'<p class="text-danger">'
        f"{staff_said(w.prescribed, prescribed_nsaid=patient.prescribed_nsaid)}</p>"
        if patient.takes_prescribed_nsaid
        else ""
    )
    parts.append(
        "\n    </div></section>\n"
        '    <div class="card"><div class="card-body" aria-live="polite">\n'
        f'      <h2 class="h6">{w.before}</h2>\n'
        f'      <p id="earliest">{w.earliest} <strong>'
        f"{escaped(formatted_day(eligibility.earliest_day, 'l j F Y'))}</strong><br>"
        f'<span class="small text-muted">{escaped(eligibility.reason)}</span></p>\n'
        f"      {nsaid}\n"
        f'      <p id="preview" class="mb-0 text-muted">{w.choose_date}</p>\n'
        "    </div></div>\n  </div>\n</div>\n"
    )
    title = staff_said(w.title, full_name=patient.full_name)
    return title, mark_safe("".join(parts))  # noqa: S308 - every value escaped above
