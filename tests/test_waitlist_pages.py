"""The waitlist's pages: the portal's (join, leave, the offer: accept or decline) and the
staff list; ownership, bad input, constant queries, the patient's language."""

from datetime import timedelta

import pytest
from django.test import Client

from tests.factories import NOW, PatientFactory, at, staff
from tests.test_portal import portal_client
from tests.test_waitlist import FRIDAY, Clinic
from treatments import waitlist
from treatments.models import OfferStatus, TreatmentSession, WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

JOIN = "/portal/waitlist/"
LEAVE = "/portal/waitlist/leave/"


def offer_url(offer) -> str:
    return f"/portal/waitlist/offers/{offer.pk}/"


@pytest.fixture
def clinic(frozen):
    return Clinic()


@pytest.fixture
def offered(clinic, django_capture_on_commit_callbacks):
    """Ben waits; Xavier's Friday time is cancelled and offered to Ben."""
    clinic.ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2))
    clinic.ben_client = Client()
    clinic.ben_client.force_login(clinic.ben.user)
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    clinic.offer = WaitlistOffer.objects.get()
    return clinic


def test_the_booking_page_leads_to_the_waitlist(clinic):
    html = portal_client(PatientFactory()).get("/portal/book/").content.decode()
    assert 'id="waitlist-link"' in html and JOIN in html


def test_a_patient_joins_and_leaves(clinic):
    patient = PatientFactory()
    client = portal_client(patient)
    html = client.get(JOIN).content.decode()
    # The first time the finder offers this patient: Friday 8 January (the NSAID notice).
    assert "The first free time you can book now is Friday 8 January 2027 at 09:00" in html
    assert 'id="join-button"' in html
    response = client.post(JOIN, {"site": clinic.site.pk, "not_after": ""}, follow=True)
    html = response.content.decode()
    assert "You are on the waitlist." in html and 'id="waiting"' in html
    entry = WaitlistEntry.objects.get(patient=patient)
    assert entry.status == "waiting" and entry.not_after is None
    assert client.get(LEAVE).status_code == 405  # a change is a POST
    html = client.post(LEAVE, follow=True).content.decode()
    assert "You are no longer on the waitlist." in html
    entry.refresh_from_db()
    assert entry.status == "withdrawn"


def test_joining_twice_or_with_a_past_day_is_a_form_error(clinic):
    patient = PatientFactory()
    client = portal_client(patient)
    response = client.post(JOIN, {"site": clinic.site.pk, "not_after": "2027-01-01"})
    assert response.status_code == 400
    assert "Choose a day from today on" in response.content.decode()
    client.post(JOIN, {"site": clinic.site.pk})
    response = client.post(JOIN, {"site": clinic.site.pk})
    assert response.status_code == 400
    assert "You are already on the waitlist." in response.content.decode()
    assert WaitlistEntry.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"site": "x"},
        {"site": "999999"},
        {"site": "1", "not_after": "9999-99-99"},
        {"site": "1", "not_after": "0001-01-01"},
        {"site": "1", "not_after": "1" * 500},
        {},
    ],
)
def test_bad_input_to_join_is_a_400_never_a_500(clinic, data):
    response = portal_client(PatientFactory()).post(JOIN, data)
    assert response.status_code == 400
    assert not WaitlistEntry.objects.exists()


def test_a_patient_with_a_session_to_come_is_told_to_move_it(clinic):
    client = portal_client(clinic.holder)
    html = client.get(JOIN).content.decode()
    assert 'id="has-session"' in html and 'id="join-button"' not in html


def test_the_offer_page_and_accepting(offered):
    client = offered.ben_client
    html = client.get(JOIN).content.decode()
    assert 'id="open-offer"' in html and offer_url(offered.offer) in html
    html = client.get(offer_url(offered.offer)).content.decode()
    assert "Friday 15 January 2027 at 09:00 Berlin time" in html
    assert "Please answer by Monday 4 January 2027 at 21:00 Berlin time" in html
    response = client.post(offer_url(offered.offer), {"answer": "accept"}, follow=True)
    html = response.content.decode()
    assert "Your session is booked for Friday 15 January 2027 at 09:00 Berlin time." in html
    assert TreatmentSession.objects.get(patient=offered.ben).starts_at == at(FRIDAY, 9)
    html = client.get(offer_url(offered.offer)).content.decode()
    assert "You accepted this time" in html and 'id="accept-offer"' not in html


def test_declining_on_the_page(offered):
    response = offered.ben_client.post(offer_url(offered.offer), {"answer": "decline"}, follow=True)
    assert "You declined this time" in response.content.decode()
    offered.offer.refresh_from_db()
    assert offered.offer.status == OfferStatus.DECLINED


def test_a_time_gone_meanwhile_shows_the_next_free_times(offered):
    offered.book(PatientFactory(), FRIDAY)  # the front desk gives it to a walk-in
    response = offered.ben_client.post(offer_url(offered.offer), {"answer": "accept"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "this time is no longer free" in html
    assert 'id="next-slots"' in html and "Friday 8 January 2027 at 09:00" in html


@pytest.mark.parametrize("data", [{}, {"answer": "maybe"}, {"answer": "x" * 1000}])
def test_bad_answers_are_a_400(offered, data):
    response = offered.ben_client.post(offer_url(offered.offer), data)
    assert response.status_code == 400
    offered.offer.refresh_from_db()
    assert offered.offer.status == OfferStatus.OFFERED


def test_another_patients_offer_is_a_404(offered):
    other = portal_client(PatientFactory())
    assert other.get(offer_url(offered.offer)).status_code == 404
    assert other.post(offer_url(offered.offer), {"answer": "accept"}).status_code == 404
    assert other.get("/portal/waitlist/offers/999999/").status_code == 404
    offered.offer.refresh_from_db()
    assert offered.offer.status == OfferStatus.OFFERED


def test_an_ended_offer_says_so(offered):
    waitlist.advance(now=offered.offer.expires_at)
    html = offered.ben_client.get(offer_url(offered.offer)).content.decode()
    assert 'id="offer-ended"' in html and 'id="accept-offer"' not in html


def test_staff_cannot_open_the_patients_pages(clinic, staff_client):
    assert staff_client.get(JOIN).status_code in (302, 403)


def test_the_pages_in_german(offered):
    offered.ben.language = "de"
    offered.ben.save()
    html = offered.ben_client.get(offer_url(offered.offer)).content.decode()
    assert "Ein Termin ist frei geworden" in html
    assert "Freitag, 15. Januar 2027" in html
    html = offered.ben_client.get(JOIN).content.decode()
    assert "Warteliste" in html


def test_the_pages_in_turkish(offered):
    offered.ben.language = "tr"
    offered.ben.save()
    html = offered.ben_client.get(offer_url(offered.offer)).content.decode()
    assert "Bir randevu boşaldı" in html
    assert "15 Ocak 2027" in html


def test_the_staff_list(offered, staff_client):
    cem = offered.wait("Cem", joined=NOW - timedelta(hours=1))
    html = staff_client.get("/waitlist/").content.decode()
    assert html.index(offered.ben.last_name) < html.index(cem.last_name)
    assert 'id="freed-slots"' in html and "Friday 15 January 2027 at 09:00" in html
    assert Client().get("/waitlist/").status_code == 302  # signed out: to the sign-in
    patient = portal_client(PatientFactory())
    assert patient.get("/waitlist/").status_code in (302, 403)
    assert staff_client.get("/waitlist/", {"site": "x", "page": "-1"}).status_code == 200


def test_the_pages_queries_are_constant(
    clinic, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """Two offers and ten waiting, then one and thirty: the same ceilings."""
    ben = clinic.wait("Ben", joined=NOW - timedelta(hours=3))
    ben_client = Client()
    ben_client.force_login(ben.user)
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    offer = WaitlistOffer.objects.get()
    desk = Client()
    desk.force_login(staff())
    for size in (10, 30):
        while WaitlistEntry.objects.filter(status="waiting").count() < size:
            clinic.wait("More", joined=NOW - timedelta(minutes=1))
        with django_assert_max_num_queries(PORTAL_WAITLIST):
            ben_client.get(JOIN)
        with django_assert_max_num_queries(PORTAL_OFFER):
            ben_client.get(offer_url(offer))
        with django_assert_max_num_queries(STAFF_WAITLIST):
            desk.get("/waitlist/")
        fresh = portal_client(PatientFactory())
        with django_assert_max_num_queries(PORTAL_WAITLIST):
            fresh.get(JOIN)


PORTAL_WAITLIST = 13  # 7 + the finder for the first free time (6)
PORTAL_OFFER = 6
STAFF_WAITLIST = 9


def test_the_patients_export_holds_the_waitlist(offered):
    from audit.subject_access import subject_access_report

    report = subject_access_report(offered.ben)
    [entry] = report["waitlist"]
    assert entry["status"] == "Waiting" and [o["status"] for o in entry["offers"]] == ["Offered"]
    notices = [m for m in report["messages"] if m["waitlist_offer_id"] == offered.offer.pk]
    assert [m["kind"] for m in notices] == ["Waitlist: a time has become free"]


def test_the_staff_list_reads_the_sites_clock(offered, staff_client):
    """An Istanbul site's freed time and offer read on Istanbul's clock, named, not on the
    clinic's default clock (fails with the clinic-clock filter)."""
    site = offered.offer.freed_slot.site
    site.time_zone = "Europe/Istanbul"
    site.save(update_fields=["time_zone"])
    html = staff_client.get("/waitlist/").content.decode()
    assert "Friday 15 January 2027 at 11:00 Istanbul time" in html  # 09:00 in Berlin
    assert "Berlin time" not in html


def test_the_waitlist_pages_compiled_reads_are_the_orms(offered):
    """portal.selectors.waitlist_page reads by compiled statements what the ORM read: the
    waiting entry with its site, the open offers with their time's site (not an expired
    one), whether a session is to come; no query more for the sites."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal import selectors
    from treatments.models import OPEN_STATUSES, WaitlistStatus

    ben = offered.ben
    page = selectors.waitlist_page(ben, site=None, now=NOW)
    orm_entry = (
        WaitlistEntry.objects.filter(patient=ben, status=WaitlistStatus.WAITING)
        .select_related("site")
        .first()
    )
    assert page.entry == orm_entry and page.entry is not None
    orm_offers = list(
        WaitlistOffer.objects.filter(
            patient=ben, status=OfferStatus.OFFERED, expires_at__gt=NOW
        ).select_related("freed_slot__site")
    )
    assert page.offers == orm_offers == [offered.offer]
    with CaptureQueriesContext(connection) as ctx:
        assert page.entry.site.name == orm_entry.site.name
        assert page.offers[0].freed_slot.site.tz == orm_offers[0].freed_slot.site.tz
    assert ctx.captured_queries == []  # read with them (select_related)
    assert page.has_session is False
    # Past its expiry the offer is no longer open, though beat has not marked it yet.
    later = offered.offer.expires_at
    assert selectors.waitlist_page(ben, site=None, now=later).offers == []
    assert selectors.waitlist_page(ben, site=None, now=later - timedelta(seconds=1)).offers
    # Another patient's view: none of Ben's.
    other = PatientFactory()
    assert selectors.waitlist_page(other, site=None, now=NOW).offers == []
    assert selectors.waitlist_page(other, site=None, now=NOW).entry is None
    # A session to come, as TreatmentSession's filter finds it.
    booked = offered.book(PatientFactory(), FRIDAY + timedelta(days=7))
    assert selectors.waitlist_page(booked.patient, site=None, now=NOW).has_session is True
    assert (
        selectors.waitlist_page(booked.patient, site=None, now=booked.starts_at).has_session is True
    )
    assert (
        selectors.waitlist_page(
            booked.patient, site=None, now=booked.starts_at + timedelta(seconds=1)
        ).has_session
        is TreatmentSession.objects.filter(
            patient=booked.patient,
            status__in=OPEN_STATUSES,
            starts_at__gt=booked.starts_at,
        ).exists()
    )


# The staff list's two tables as the template wrote them before the view wrote their rows
# (frontdesk.views.waitlist._rows): the reference the rows are pinned to.
STAFF_ROWS_TEMPLATE = """{% load clinic_clock i18n %}<tbody>{% for f in freed %}
    <tr><td>{{ f.starts_at|at_site:site }}</td><td>{{ f.clinician.get_full_name|default:f.clinician.username }}, {{ f.room.name }}</td>
    <td>{% for o in f.live_offers %}<a href="{% url 'patient_detail' o.patient_id %}">{{ o.patient.full_name }}</a>{% empty %}<span class="text-muted">{% translate "nobody yet" context "staff" %}</span>{% endfor %}</td>
    <td>{% for o in f.live_offers %}{{ o.expires_at|at_site:site }}{% endfor %}</td></tr>
  {% empty %}<tr><td colspan="4" class="text-muted">{% translate "No freed time is being offered." context "staff" %}</td></tr>{% endfor %}</tbody>
</table></div>|<tbody>{% for e in page %}
    <tr><td><a href="{% url 'patient_detail' e.patient_id %}">{{ e.patient.last_name }}, {{ e.patient.first_name }}</a></td>
    <td>{{ e.created_at|at_site:site }}</td>
    <td>{% if e.not_after %}{{ e.not_after|date:"d M Y" }}{% else %}{% translate "any day" context "staff" %}{% endif %}</td>
    <td>{% for o in e.live_offers %}{% blocktranslate with starts_at=o.freed_slot.starts_at|at_site:site context "staff" %}offered {{ starts_at }}{% endblocktranslate %}{% empty %}{% if e.has_session %}{% translate "has a session booked (passed over)" context "staff" %}{% else %}{% translate "waiting" context "staff" %}{% endif %}{% endfor %}</td></tr>
  {% empty %}<tr><td colspan="4" class="text-muted">{% translate "Nobody is waiting." context "staff" %}</td></tr>{% endfor %}</tbody>"""  # noqa: E501


def test_the_staff_lists_rows_are_the_templates(offered, staff_client):
    """The rows written in Python from compiled reads are byte for byte the template's over
    the ORM's instances: an offer (its patient linked, its time and expiry on the site's
    clock), a name to escape, a last day, a patient passed over for a booked session, a
    clinician known by username only; and with nothing freed or nobody waiting."""
    from django.template import Context, Template

    from treatments import selectors
    from treatments.models import FreedSlot

    def reference(site) -> list[str]:
        html = Template(STAFF_ROWS_TEMPLATE).render(
            Context(
                {
                    "site": site,
                    "freed": selectors.open_freed_slots(site),
                    "page": list(selectors.waiting_at(site, now=NOW)[:50]),
                }
            )
        )
        return html.split("|")

    site = offered.offer.freed_slot.site
    offered.wait('O\'Brien <b>"x"</b>', joined=NOW - timedelta(hours=1), last_name="Smith & Co")
    entry = WaitlistEntry.objects.get(patient=offered.wait("Dora", joined=NOW))
    WaitlistEntry.objects.filter(pk=entry.pk).update(not_after=NOW.date() + timedelta(days=40))
    offered.book(offered.wait("Emil", joined=NOW), FRIDAY + timedelta(days=7))
    for _ in range(2):
        html = staff_client.get("/waitlist/").content.decode()
        freed, waiting = reference(site)
        assert freed in html and waiting in html
        assert "O&#x27;Brien &lt;b&gt;" in waiting and "offered Friday" in waiting
        assert "passed over" in waiting and "any day" in waiting and "Dora" in waiting
        slot = FreedSlot.objects.get()
        slot.clinician.first_name = slot.clinician.last_name = ""
        slot.clinician.save()
    assert f"<td>{slot.clinician.username}, Room 2</td>" in freed  # no name: the username
    WaitlistOffer.objects.update(status=OfferStatus.DECLINED)
    html = staff_client.get("/waitlist/").content.decode()
    freed, waiting = reference(site)
    assert freed in html and waiting in html and "nobody yet" in freed
    WaitlistEntry.objects.all().delete()
    FreedSlot.objects.all().delete()
    html = staff_client.get("/waitlist/").content.decode()
    freed, waiting = reference(site)
    assert freed in html and waiting in html and "Nobody is waiting." in waiting


def test_the_staff_lists_compiled_reads_are_the_orms(offered):
    """The staff list's statements compiled once are the ORM's own, parameters and all."""
    from accounts import prepared
    from treatments import selectors

    site_id = offered.offer.freed_slot.site_id
    page = selectors.waiting_at(site_id, now=NOW).prefetch_related(None)
    page = page.values(*selectors.WAITING_SHOWN)[50:101]
    sql, params = page.query.sql_with_params()
    compiled = selectors._waiting_page(50, 101).sql_with_params(site_id=site_id, now=NOW)
    assert compiled == (sql, list(params))
    freed = selectors._open_freed_values(site_id).query.sql_with_params()
    assert selectors._FREED.sql_with_params(site_id=site_id) == (freed[0], list(freed[1]))
    for read in (selectors._live_offers_of_entries, selectors._live_offers_of_slots):
        sql, params = read([4, 5]).query.sql_with_params()
        assert prepared._read_of_ids(read, 2).sql_with_params(id0=4, id1=5) == (sql, list(params))
    rows = selectors.waiting_rows(site_id, now=NOW, start=0, stop=51)
    assert [(r["patient_id"], r["live_offers"]) for r in rows] == [
        (offered.ben.pk, [offered.offer.freed_slot.starts_at])
    ]
