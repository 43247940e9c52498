"""iCalendar (.ics) for sessions and follow-ups: what "add to calendar" downloads. Built in
the active language: the portal's pages run in the patient's (portal.views)."""

from datetime import UTC, timedelta

from django.conf import settings
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from treatments.formatting import long_date, session_when


def _calendar() -> Calendar:
    cal = Calendar()
    cal.add("prodid", f"-//{settings.CLINIC_NAME}//Patient portal//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", settings.CLINIC_NAME)
    return cal


def session_event(session, window) -> Event:
    event = Event()
    event.add("uid", f"session-{session.pk}@{settings.REMINDER_MESSAGE_ID_DOMAIN}")
    event.add("summary", _("Treatment session at %(clinic)s") % {"clinic": settings.CLINIC_NAME})
    # The instant in UTC (a calendar app shows it on its reader's clock); the description
    # names it on the site's clock, as every page and message does.
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    event.add("dtstamp", session.booked_at.astimezone(UTC))
    event.add("location", _site_place(session.site))
    event.add(
        "description",
        session_when(session, session.patient.tz)
        + "\n"
        + _(
            "No aspirin, ibuprofen or other NSAIDs from %(first)s through %(last)s (unless the "
            "clinic advised otherwise). Drink plenty the day before, eat breakfast, come with a "
            "clean scalp and your medicines list. Questions: %(phone)s."
        )
        % {
            "first": long_date(window.first_day),
            "last": long_date(window.last_day),
            "phone": settings.CLINIC_PHONE,
        },
    )
    return event


def _site_place(site) -> str:
    """Where: the site's name and address (the clinic's address for a site without one)."""
    return f"{site.name}, {site.address or settings.CLINIC_ADDRESS}"


def follow_up_event(follow_up) -> Event:
    event = Event()
    event.add("uid", f"follow-up-{follow_up.pk}@{settings.REMINDER_MESSAGE_ID_DOMAIN}")
    event.add(
        "summary",
        _("%(kind)s due at %(clinic)s")
        % {"kind": follow_up.get_kind_display(), "clinic": settings.CLINIC_NAME},
    )
    event.add("dtstart", follow_up.due_date)  # a day: the time is agreed with the clinic
    event.add("dtend", follow_up.due_date + timedelta(days=1))
    event.add("dtstamp", follow_up.session.booked_at.astimezone(UTC))
    event.add("location", _site_place(follow_up.session.site))
    event.add(
        "description",
        _("Please call %(phone)s to agree on a time.") % {"phone": settings.CLINIC_PHONE},
    )
    return event


def ics(events) -> bytes:
    cal = _calendar()
    for event in events:
        cal.add_component(event)
    return cal.to_ical()
