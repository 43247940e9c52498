"""The schedule: a day or a week of sessions, by clinician and room."""

from datetime import timedelta

from django.shortcuts import render

from accounts.decorators import permission_required
from frontdesk.forms import ScheduleForm
from treatments import selectors
from treatments.formatting import session_span
from treatments.models import Room
from ui.rows import link_maker

from .common import now_and_today


@permission_required("treatments.view_treatmentsession")
def schedule(request):
    now, today = now_and_today()
    query = ScheduleForm(request.GET).parsed()
    day = query.get("day") or today
    week = query.get("view") == "week"
    start = day - timedelta(days=day.weekday()) if week else day
    length = 7 if week else 1
    clinician_id = query["clinician"].pk if "clinician" in query else None
    room_id = query["room"].pk if "room" in query else None
    by_day = selectors.schedule(
        start=start,
        days=length,
        today=today,
        now=now,
        clinician_id=clinician_id,
        room_id=room_id,
    )
    session_link, patient_link = link_maker("session_detail"), link_maker("patient_detail")
    for entries in by_day.values():  # the cells prepared once (ui.rows), not in every row
        for e in entries:
            s = e.session
            e.session_url, e.patient_url = session_link(s.pk), patient_link(s.patient_id)
            e.times = session_span(s)  # on the session's site's clock, named
    return render(
        request,
        "staff/schedule.html",
        {
            "by_day": by_day,
            "day": day,
            "week": week,
            "today": today,
            "previous": start - timedelta(days=length),
            "next": start + timedelta(days=length),
            "clinicians": selectors.clinicians(),
            "rooms": Room.objects.filter(is_active=True),
            "clinician_id": str(clinician_id or ""),
            "room_id": str(room_id or ""),
            "side_effects": selectors.open_side_effect_reports(),
        },
    )
