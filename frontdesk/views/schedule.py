"""The schedule: a day or a week of sessions, by clinician and room, a page at a time."""

from datetime import timedelta
from html import escape
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import ScheduleForm
from treatments import selectors
from treatments.selectors import ScheduleRow
from ui.forms import page_number
from ui.rows import day_and_month, link_maker

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
    session_link, patient_link = link_maker("session_detail"), link_maker("patient_detail")
    confirmed = escape(pgettext("staff", "Confirmed by the patient (SMS)"))
    days = [  # each row's HTML made here once: no template tag per cell
        {
            "day": d.day,
            "rows": mark_safe(  # noqa: S308 - every value escaped in _row_html
                "".join(_row_html(row, session_link, patient_link, confirmed) for row in d.rows)
            ),
        }
        for d in shown.days
    ]
    chosen = str(clinician_id or ""), str(room_id or "")
    return render(
        request,
        "staff/schedule.html",
        {
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
            "side_effects": _side_effects(patient_link),
        },
    )


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
    status = escape(row["status"])
    if row["confirmed"]:
        status += f'<br><span class="badge text-bg-success">{confirmed}</span>'
    flags = "".join(
        f'<span class="badge flag text-bg-{escape(style)} me-1">{escape(text)}</span>'
        for style, text in row["flags"]
    )
    muted = ' class="text-muted"' if row["muted"] else ""
    return (
        f"<tr{muted}>"
        f'<td><a href="{session_link(row["session_id"])}">{escape(row["times"])}</a></td>'
        f'<td><a href="{patient_link(row["patient_id"])}">{escape(row["patient"])}</a></td>'
        f"<td>{escape(row['clinician'])}</td><td>{escape(row['room'])}</td>"
        f'<td class="session-status">{status}</td><td>{flags}</td></tr>\n'
    )
