"""The waitlist of a site: who waits, in the order offers go out in, and the freed times
being offered (treatments.waitlist)."""

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from frontdesk.forms import SlotPickForm
from sites.models import active_sites
from treatments import selectors
from treatments.formatting import when_maker
from ui.forms import page_number
from ui.pagination import Window, pager_html, window_of
from ui.rows import escaper, link_maker, padded_day

from .common import active_sites_read, now_and_today

PER_PAGE = 50


@permission_required("treatments.view_waitlistentry")
def waitlist(request):
    site_list = active_sites_read.all()
    site = site_list[0] if site_list else None
    if "site" in request.GET:
        # Without a site asked for, the form (which reads the clinicians and the rooms for
        # its other fields) would answer the first site anyway.
        site = SlotPickForm(request.GET, sites=active_sites()).site_or(site)
    now, _ = now_and_today()
    page = window_of(
        lambda start, stop: (
            selectors.waiting_rows(site.pk, now=now, start=start, stop=stop) if site else []
        ),
        page_number(request.GET),
        PER_PAGE,
    )
    page_query = urlencode({"site": site.pk}) if site else ""
    return render(
        request,
        "staff/waitlist.html",
        {
            "site": site,
            "sites": site_list,
            "page": page,
            **_rows(site, page, selectors.freed_rows(site.pk) if site else []),
            "offer_hours": settings.WAITLIST_OFFER_HOURS,
            "page_query": page_query,
            "pager": pager_html(page, page_query),
        },
    )


# Each row with the white space the template's {% for %} lines left around it.
_FREED = (
    "\n    <tr><td>{at}</td><td>{clinician}, {room}</td>\n"
    "    <td>{offered_to}</td>\n    <td>{until}</td></tr>\n  "
)
_OFFERED_TO = '<a href="{link}">{first} {last}</a>'
_WAITING = (
    '\n    <tr><td><a href="{link}">{last}, {first}</a></td>\n'
    "    <td>{joined}</td>\n    <td>{days}</td>\n    <td>{now}</td></tr>\n  "
)


def _rows(site, page: Window, freed: list[dict]) -> dict[str, SafeString]:
    """Both tables' rows once in Python with str.format, each value escaped as the template
    escaped it (tests/test_waitlist.py pins them against the template's): the template's
    `at_site` filter, `{% url %}` and `{% blocktranslate %}` cost more than the rows'
    reads. Instants read on the site's clock, as `at_site`."""
    if site is None:
        return {"freed_rows": SafeString(), "waiting_rows": SafeString()}
    when, text, link = when_maker(site.tz), escaper(), link_maker("patient_detail")
    nobody = '<span class="text-muted">{}</span>'.format(text(pgettext("staff", "nobody yet")))
    freed_rows = "".join(
        _FREED.format(
            at=text(when(f["starts_at"])),
            clinician=text(
                f"{f['clinician__first_name']} {f['clinician__last_name']}".strip()
                or f["clinician__username"]
            ),
            room=text(f["room__name"]),
            offered_to="".join(
                _OFFERED_TO.format(
                    link=link(o["patient_id"]),
                    first=text(o["patient__first_name"]),
                    last=text(o["patient__last_name"]),
                )
                for o in f["live_offers"]
            )
            or nobody,
            until="".join(text(when(o["expires_at"])) for o in f["live_offers"]),
        )
        for f in freed
    )
    offered = pgettext("staff", "offered %(starts_at)s")
    any_day = text(pgettext("staff", "any day"))
    passed_over = text(pgettext("staff", "has a session booked (passed over)"))
    waiting = text(pgettext("staff", "waiting"))
    waiting_rows = "".join(
        _WAITING.format(
            link=link(e["patient_id"]),
            last=text(e["patient__last_name"]),
            first=text(e["patient__first_name"]),
            joined=text(when(e["created_at"])),
            days=padded_day(e["not_after"]) if e["not_after"] else any_day,
            now="".join(offered % {"starts_at": text(when(at))} for at in e["live_offers"])
            or (passed_over if e["has_session"] else waiting),
        )
        for e in page
    )
    return {"freed_rows": SafeString(freed_rows), "waiting_rows": SafeString(waiting_rows)}
