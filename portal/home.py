"""The portal home's two largest parts, the next session's sheet (with how to prepare) and
the next follow-up, written in Python with str.format (issue 18): in the template their
two dozen `{% translate %}`/`{% blocktranslate %}` tags, date filters and `{% url %}` tags
cost more CPU than the rest of the page. The words are the template's own messages
(gettext, in the patient's language, as the view activates it); each value is escaped as
the template escaped it (tests/test_portal.py pins the output against the template's)."""

from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext

from treatments.formatting import day_month, long_date, session_when
from ui.nav import url, where
from ui.rows import escaped, link_maker

_SESSION_CARD = (
    '\n<div class="card mb-3"><div class="card-body">\n'
    '  <h2 class="h5">{next_session}</h2>\n'
    '  <p class="lead mb-1" id="next-session">{when}</p>\n'
    '  <p class="mb-1 text-muted">{clock} {site}, {address}</p>\n'
    '  <p class="mb-2" id="countdown">{countdown}</p>\n'
    '  <div class="d-flex flex-wrap gap-2 d-print-none">\n'
    '    <a class="btn btn-outline-primary btn-sm" id="ics-link" href="{ics}">{add}</a>\n'
    '    <button class="btn btn-outline-secondary btn-sm" data-action="print" type="button">'
    "{print}</button>\n"
    "    {change}\n"
    "  </div>\n"
    "</div></div>\n\n"
    '<h2 class="h5">{prepare}</h2>\n'
    '<ul class="list-group mb-3" id="prep">\n'
    "  \n  {nsaid}\n  \n"
    '  <li class="list-group-item">{day_before}</li>\n'
    '  <li class="list-group-item">{morning}</li>\n'
    '  <li class="list-group-item">{bring}</li>\n'
    "</ul>\n"
)
_ASKED = '<span class="text-muted small align-self-center">{}</span>\n    '
_MOVE_OR_CANCEL = (
    '<a class="btn btn-outline-secondary btn-sm" id="move-link" href="{book}?move={pk}">'
    "{move}</a>\n"
    '    <a class="btn btn-outline-danger btn-sm" id="cancel-link" href="{cancel}">{cancel_word}'
    "</a>\n    "
)
_ASK_TO_CHANGE = '<a class="btn btn-outline-secondary btn-sm" href="{}">{}</a>'
_NSAID_ADVICE = (
    '<li class="list-group-item" id="nsaid-advice"><strong>{medicine}</strong> {advice}</li>'
)
_NSAID_STOP = '<li class="list-group-item" id="nsaid-stop">{}</li>'
_FOLLOW_UP_CARD = (
    '\n<div class="card mb-3" id="next-follow-up"><div class="card-body">\n'
    '  <h2 class="h5">{next_follow_up}</h2>\n'
    '  <p class="mb-1">{due}</p>\n'
    '  <a class="btn btn-outline-primary btn-sm d-print-none" href="{ics}">{add}</a>\n'
    '  <a class="btn btn-outline-secondary btn-sm d-print-none" href="{all_url}">{all}</a>\n'
    "</div></div>\n"
)


@lru_cache(maxsize=16)
def _words(language: str | None) -> dict[str, str]:
    """The parts' fixed words in a language, looked up once a process, not once a page."""
    return {
        "next_session": gettext("Your next session"),
        "clock": gettext("On the clinic's clock."),
        "add": gettext("Add to calendar"),
        "print": gettext("Print this sheet"),
        "asked": gettext("You asked to change this session; the clinic will contact you."),
        "move": gettext("Move"),
        "cancel_word": gettext("Cancel"),
        "ask_to_change": gettext("Ask to move or cancel"),
        "prepare": gettext("How to prepare"),
        "in_days": gettext("In %(days)s days"),
        "tomorrow": gettext("Tomorrow"),
        "today": gettext("Today"),
        "your_medicine": gettext("Your %(medicine)s:"),
        "advice": gettext("the clinic's advice: %(advice)s"),
        "wait": gettext("please wait for the clinic's advice and do not stop it on your own."),
        "stop": gettext(
            "<strong>From %(first)s:</strong> no aspirin, ibuprofen, naproxen or other NSAIDs. "
            "You may take them again from <strong>%(resume)s</strong>. Paracetamol is usually "
            "fine; please ask us first."
        ),
        "day_before": gettext("<strong>%(day)s (the day before):</strong> drink plenty of fluids."),
        "morning": gettext("<strong>%(day)s, in the morning:</strong> eat breakfast."),
        "bring": gettext(
            "<strong>Bring:</strong> a list of the medicines you take. Come with a clean scalp."
        ),
        "next_follow_up": gettext("Your next follow-up"),
        "due": gettext(
            "%(kind)s: <strong>%(day)s</strong>. The clinic will contact you to arrange it."
        ),
        "all": gettext("All your follow-ups"),
    }


@lru_cache(maxsize=16)
def _links(place: tuple[str, str, str]) -> dict:
    """The parts' links, each URL pattern reversed once a process (`where()`)."""
    return {
        name: link_maker(name)
        for name in (
            "portal_session_ics",
            "portal_cancel",
            "portal_request_change",
            "portal_follow_up_ics",
        )
    }


def session_card(patient, prep, *, requested: set[int], self_change: bool) -> SafeString:
    """`{% if page.prep %}{% with s=page.prep.session %}…{% endwith %}`: the next session's
    sheet and how to prepare for it."""
    words, place = _words(get_language()), where()
    links = _links(place)
    s = prep.session
    reader = ZoneInfo(patient.time_zone) if patient.time_zone else None  # as the filter
    if prep.days_to_go > 1:
        countdown = words["in_days"] % {"days": prep.days_to_go}
    else:
        countdown = words["tomorrow"] if prep.days_to_go == 1 else words["today"]
    if s.pk in requested:
        change = _ASKED.format(words["asked"])
    elif self_change:
        change = _MOVE_OR_CANCEL.format(
            book=url("portal_book", place),
            pk=s.pk,
            move=words["move"],
            cancel=links["portal_cancel"](s.pk),
            cancel_word=words["cancel_word"],
        )
    else:
        change = _ASK_TO_CHANGE.format(links["portal_request_change"](s.pk), words["ask_to_change"])
    if patient.takes_prescribed_nsaid:
        if s.nsaid_decided_at:
            advice = words["advice"] % {"advice": escaped(s.nsaid_decision)}
        else:
            advice = words["wait"]
        nsaid = _NSAID_ADVICE.format(
            medicine=words["your_medicine"] % {"medicine": escaped(patient.prescribed_nsaid)},
            advice=advice,
        )
    else:
        window = prep.window
        nsaid = _NSAID_STOP.format(
            words["stop"]
            % {
                "first": escaped(day_month(window.first_day)),
                "resume": escaped(long_date(window.resume_day)),
            }
        )
    return SafeString(
        _SESSION_CARD.format(
            next_session=words["next_session"],
            when=escaped(session_when(s, reader)),
            clock=words["clock"],
            site=escaped(s.site.name),
            address=escaped(s.site.address or settings.CLINIC_ADDRESS),
            countdown=countdown,
            ics=links["portal_session_ics"](s.pk),
            add=words["add"],
            print=words["print"],
            change=change,
            prepare=words["prepare"],
            nsaid=nsaid,
            day_before=words["day_before"] % {"day": escaped(day_month(prep.day_before))},
            morning=words["morning"] % {"day": escaped(day_month(prep.day))},
            bring=words["bring"],
        )
    )


def follow_up_card(follow_up) -> SafeString:
    """`{% if page.next_follow_up %}…{% endif %}`: the next planned check."""
    words, place = _words(get_language()), where()
    return SafeString(
        _FOLLOW_UP_CARD.format(
            next_follow_up=words["next_follow_up"],
            due=words["due"]
            % {
                "kind": escaped(follow_up.get_kind_display()),
                "day": escaped(long_date(follow_up.due_date)),
            },
            ics=_links(place)["portal_follow_up_ics"](follow_up.pk),
            add=words["add"],
            all_url=url("portal_follow_ups", place),
            all=words["all"],
        )
    )
