"""The schedule: a day or a week of sessions, by clinician and room, a page at a time."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from html import escape
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import ScheduleForm
from treatments import selectors
from treatments.formatting import formatted_day
from treatments.selectors import ScheduleRow
from ui.forms import page_number
from ui.nav import where
from ui.pagination import pager_html
from ui.rows import day_and_month, escaped, link_maker, staff_said

from .common import now_and_today


@permission_required("treatments.view_treatmentsession")
def schedule(request):
    now, today = now_and_today()
    form = ScheduleForm(request.GET)
    query = form.parsed()
    day = query.get("day") or today
    week = query.get("view") == "week"
    start = day - timedelta(days=day.weekday()) if week else day
    length = 7 if week else 1
    clinician_id = query["clinician"].pk if "clinician" in query else None
    room_id = query["room"].pk if "room" in query else None
    shown = selectors.schedule(
        start=start,
        days=length,
        today=today,
        now=now,
        clinician_id=clinician_id,
        room_id=room_id,
        page=page_number(request.GET),
    )
    w = _words(where())
    days = [  # each row's HTML made here once: no template tag per cell
        {
            "day": d.day,
            "rows": mark_safe(  # noqa: S308 - every value escaped in _row_html
                "".join(
                    _row_html(row, w.session_link, w.patient_link, w.confirmed) for row in d.rows
                )
            ),
        }
        for d in shown.days
    ]
    chosen = str(clinician_id or ""), str(room_id or "")
    context = {
        "days": days,
        "schedule": shown,  # the rows as values (the tests read them)
        "page": shown.page,
        # The page links keep what was asked (as parsed), with the page number.
        "page_query": urlencode(
            {"day": day.isoformat()}
            | ({"view": "week"} if week else {})
            | ({"clinician": chosen[0]} if clinician_id else {})
            | ({"room": chosen[1]} if room_id else {})
        ),
        "day": day,
        "week": week,
        "today": today,
        "previous": start - timedelta(days=length),
        "next": start + timedelta(days=length),
        "form": form,  # its clinician and room selects, the choice kept
        "clinician_id": chosen[0],
        "room_id": chosen[1],
        "side_effects": _side_effects(w.patient_link),
    }
    context["title"], context["content"] = _content(context, w)
    context["pager"] = pager_html(shown.page, context["page_query"])
    return render(request, "staff/schedule.html", context)


@dataclass(frozen=True)
class _Words:
    """The page's texts in the reader's language (HTML: a template's translated literals
    are safe, as here) and its links: the same on every request in a language, so looked
    up once (`_words`)."""

    session_link: Callable[[int], str]
    patient_link: Callable[[int], str]
    confirmed: str
    schedule: str
    week_title: str  # "week of %(day)s"
    week_heading: str  # "Week of %(day)s"
    previous: str
    today_link: str
    next: str
    day_view: str
    week_view: str
    clinician: str
    room: str
    filter: str
    side_effects: str
    sessions_range: str  # "Sessions %(first)s–%(last)s of %(total)s"
    today_badge: str
    table_start: str  # the table's opening and head, to its <tbody>
    no_sessions: str


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language and URLs the words and links depend on."""
    # Each msgid as the template had it (makemessages does not look inside f-strings).
    sessions = pgettext("staff", "Sessions")
    heads = [
        pgettext("staff", "Time"),
        pgettext("staff", "Patient"),
        pgettext("staff", "Clinician"),
        pgettext("staff", "Room"),
        pgettext("staff", "Status"),
        pgettext("staff", "Flags"),
    ]
    return _Words(
        session_link=link_maker("session_detail"),
        patient_link=link_maker("patient_detail"),
        confirmed=escape(pgettext("staff", "Confirmed by the patient (SMS)")),
        schedule=pgettext("staff", "Schedule,"),
        week_title=pgettext("staff", "week of %(day)s"),
        week_heading=pgettext("staff", "Week of %(day)s"),
        previous=pgettext("staff", "&larr; Previous"),
        today_link=pgettext("staff", "Today"),
        next=pgettext("staff", "Next &rarr;"),
        day_view=pgettext("staff", "Day view"),
        week_view=pgettext("staff", "Week view"),
        clinician=pgettext("staff", "Clinician"),
        room=pgettext("staff", "Room"),
        filter=pgettext("staff", "Filter"),
        side_effects=pgettext("staff", "Side effects reported by patients:"),
        sessions_range=pgettext("staff", "Sessions %(first)s–%(last)s of %(total)s"),
        today_badge=pgettext("staff", "today"),
        table_start=(
            f'\n  <div class="table-responsive" tabindex="0" role="region" '
            f'aria-label="{sessions}"><table class="table table-sm schedule-table">\n'
            f"    <thead><tr>{''.join(f'<th>{head}</th>' for head in heads)}</tr></thead>\n"
            "    <tbody>\n    "
        ),
        no_sessions=pgettext("staff", "No sessions."),
    )


_WEEK_INPUT = '<input type="hidden" name="view" value="week">'


def _content(c: dict, w: _Words) -> tuple[SafeString, SafeString]:
    """The page's title and its content up to the pager, as the template wrote them
    (tests/reference/schedule.html, compared byte for byte in tests/test_schedule_pages.py):
    its translations and `date` filters cost more than the rest of the page. Values
    escaped as the template escaped them; the translated literals are HTML, as there."""
    day, week = c["day"], c["week"]
    if week:
        title = staff_said(w.week_title, day=formatted_day(day, "j F Y"))
        heading = staff_said(w.week_heading, day=formatted_day(day, "j F Y"))
    else:
        title = heading = escaped(formatted_day(day, "l j F Y"))
    view = "&view=week" if week else ""
    filters = f"&clinician={escaped(c['clinician_id'])}&room={escaped(c['room_id'])}"
    button = '<a class="btn btn-outline-secondary btn-sm" href="?day='
    form = c["form"]
    parts = [
        f'\n<div class="d-flex flex-wrap align-items-center gap-2 mb-3">\n'
        f'  <h1 class="h3 me-3 mb-0">{heading}</h1>\n'
        f'  {button}{c["previous"].isoformat()}{view}{filters}">{w.previous}</a>\n'
        f'  {button}{c["today"].isoformat()}{view}">{w.today_link}</a>\n'
        f'  {button}{c["next"].isoformat()}{view}{filters}">{w.next}</a>\n'
        f'  <a class="btn btn-outline-primary btn-sm" href="?day={day.isoformat()}'
        f'{"" if week else "&view=week"}">{w.day_view if week else w.week_view}</a>\n'
        f'  <form class="d-flex gap-2 ms-md-auto" method="get">\n'
        f'    <input type="hidden" name="day" value="{day.isoformat()}">'
        f"{_WEEK_INPUT if week else ''}\n"
        f'    <label class="visually-hidden" for="f-clinician">{w.clinician}</label>\n'
        f"    {form['clinician']}\n"
        f'    <label class="visually-hidden" for="f-room">{w.room}</label>\n'
        f"    {form['room']}\n"
        f'    <button class="btn btn-sm btn-primary" type="submit">{w.filter}</button>\n'
        "  </form>\n</div>\n"
    ]
    if c["side_effects"]:
        items = "".join(
            f'<li><a class="alert-link" href="{r["patient_url"]}">{escaped(r["patient"])}</a>, '
            f"{escaped(r['reported'])}: {escaped(r['description'])}</li>"
            for r in c["side_effects"]
        )
        parts.append(
            f'\n<div class="alert alert-danger" id="side-effect-alerts"><strong>'
            f"{w.side_effects}</strong>\n"
            f'  <ul class="mb-0">{items}</ul>\n</div>\n'
        )
    parts.append("\n")
    page = c["page"]
    if page.has_other_pages():
        said = staff_said(
            w.sessions_range,
            first=page.start_index(),
            last=page.end_index(),
            total=page.paginator.count,
        )
        parts.append(f'<p class="small text-muted mb-1" id="schedule-range">{said}</p>')
    parts.append("\n")
    today = c["today"]
    for d in c["days"]:
        parts.append("\n  ")
        if week:
            badge = (
                f' <span class="badge bg-primary">{w.today_badge}</span>'
                if d["day"] == today
                else ""
            )
            parts.append(
                f'<h2 class="h5 mt-3">{escaped(formatted_day(d["day"], "l j F"))}{badge}</h2>'
            )
        parts.append("\n  ")
        if d["rows"]:
            parts.append(f"{w.table_start}{d['rows']}\n    </tbody>\n  </table></div>\n  ")
        else:
            parts.append(f'<p class="text-muted">{w.no_sessions}</p>')
        parts.append("\n")
    # Every value above escaped, the translated literals HTML as in the template.
    return mark_safe(f"{w.schedule} {title}"), mark_safe("".join(parts))  # noqa: S308


def _side_effects(patient_link):
    """The open side-effect reports' lines, their cells prepared once."""
    return [
        {
            "patient_url": patient_link(r["patient_id"]),
            "patient": f"{r['patient__first_name']} {r['patient__last_name']}",
            "reported": _day_and_time(r["reported_at"]),
            "description": Truncator(r["description"]).chars(100),
        }
        for r in selectors.open_side_effect_reports()
    ]


def _day_and_time(moment) -> str:
    """`{{ moment|date:"j M H:i" }}` on a staff page (the current time zone)."""
    local = timezone.localtime(moment)
    return f"{day_and_month(local.date())} {local:%H:%M}"


def _row_html(row: ScheduleRow, session_link, patient_link, confirmed: str) -> str:
    """One session's <tr>, every value escaped: the time (its site's clock, named) linking
    to the session, the patient linking to their page, clinician, room, status (and the
    patient's SMS confirmation), flags; a cancelled or missed session muted."""
    status = escaped(row["status"])
    if row["confirmed"]:
        status += f'<br><span class="badge text-bg-success">{confirmed}</span>'
    flags = "".join(
        f'<span class="badge flag text-bg-{escaped(style)} me-1">{escaped(text)}</span>'
        for style, text in row["flags"]
    )
    muted = ' class="text-muted"' if row["muted"] else ""
    return (
        f"<tr{muted}>"
        f'<td><a href="{session_link(row["session_id"])}">{escaped(row["times"])}</a></td>'
        f'<td><a href="{patient_link(row["patient_id"])}">{escaped(row["patient"])}</a></td>'
        f"<td>{escaped(row['clinician'])}</td><td>{escaped(row['room'])}</td>"
        f'<td class="session-status">{status}</td><td>{flags}</td></tr>\n'
    )
