"""The waitlist of a site: who waits, in the order offers go out in, and the freed times
being offered (treatments.waitlist)."""

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render

from accounts.decorators import permission_required
from frontdesk.forms import SlotPickForm
from sites.models import Site
from treatments import selectors
from treatments.models import WaitlistEntry
from ui.forms import page_number
from ui.pagination import window

from .common import now_and_today


@permission_required("treatments.view_waitlistentry")
def waitlist(request):
    sites = Site.objects.filter(is_active=True).order_by("name")
    site_list = list(sites)
    form = SlotPickForm(request.GET or None, sites=sites)
    site = form.site_or(site_list[0] if site_list else None)
    now, _ = now_and_today()
    page = window(
        selectors.waiting_at(site, now=now) if site else WaitlistEntry.objects.none(),
        page_number(request.GET),
        50,
    )
    return render(
        request,
        "staff/waitlist.html",
        {
            "site": site,
            "sites": site_list,
            "page": page,
            "freed": selectors.open_freed_slots(site) if site else [],
            "offer_hours": settings.WAITLIST_OFFER_HOURS,
            "page_query": urlencode({"site": site.pk}) if site else "",
        },
    )
