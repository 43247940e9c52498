"""The day-0 baseline at the session, the chart starting there, and the before/after page."""

import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from tests.factories import NOW, PatientFactory, ProductLotFactory, at, book, clinician, staff
from tests.test_portal import portal_client
from tests.test_query_counts import photo
from treatments import baseline, services
from treatments.charts import progress_chart
from treatments.models import FollowUpKind, FollowUpRevision, FollowUpStatus
from treatments.selectors import patient_page

pytestmark = pytest.mark.django_db

DAY = NOW.date()  # Monday 4 January 2027: the session is this morning


def completed_session(patient=None):
    """A session held this morning (08:00–09:00) and completed at its end."""
    session = book(patient or PatientFactory(), DAY, hour=8, now=at(date(2026, 12, 1)))
    return services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=session.ends_at,
    )


def record(session, *, by=None, **kwargs):
    kwargs.setdefault("now", NOW)
    return baseline.record_baseline(session=session, recorded_by=by or session.clinician, **kwargs)


def test_a_clinician_records_the_baseline_with_views_and_measurements(frozen):
    session = completed_session()
    b = record(
        session,
        hair_density_per_cm2=62,
        shaft_thickness_um=58,
        photos=[("top", photo()), ("crown", photo())],
    )
    assert b.kind == FollowUpKind.BASELINE and b.status == FollowUpStatus.DONE
    assert b.due_date == b.seen_on == session.local_date
    assert b.seen_by == session.clinician and b.version == 1
    assert sorted(b.photos.values_list("view", flat=True)) == ["crown", "top"]
    # Photos went through the clinic's re-encoding (a random name of the written format).
    assert all(re.search(r"/[0-9a-f]{32}\.png$", p.image.name) for p in b.photos.all())
    # Never something due: not planned, so no review, overdue count or reminder sees it.
    assert not session.follow_ups.filter(kind="baseline", status="planned").exists()
    assert not session.reminders.filter(follow_up=b).exists()


def test_reception_may_not_record_it(frozen):
    session = completed_session()
    with pytest.raises(PermissionDenied):
        record(session, by=staff(), hair_density_per_cm2=60)
    assert baseline.baseline_of(session) is None


def test_only_at_a_completed_session_and_on_its_day(frozen):
    session = book(PatientFactory(), DAY, hour=8, now=at(date(2026, 12, 1)))
    with pytest.raises(ValidationError) as exc:
        record(session, hair_density_per_cm2=60)
    assert exc.value.code == "session_not_completed"
    session = completed_session()
    with pytest.raises(ValidationError) as exc:
        record(session, hair_density_per_cm2=60, now=at(DAY + timedelta(days=1)))
    assert exc.value.code == "baseline_day_passed"
    assert baseline.baseline_of(session) is None  # nothing half-written
    with pytest.raises(ValidationError) as exc:
        record(session, notes="Nothing measured")
    assert exc.value.code == "baseline_empty"
    assert baseline.baseline_of(session) is None


def test_recording_it_again_is_an_amendment_with_a_reason(frozen):
    session = completed_session()
    record(session, hair_density_per_cm2=60, expected_version=0)
    with pytest.raises(ValidationError) as exc:  # a second form opened on "not recorded"
        record(session, hair_density_per_cm2=61, expected_version=0)
    assert exc.value.code == "changed_meanwhile"
    with pytest.raises(ValidationError) as exc:
        record(session, hair_density_per_cm2=61, expected_version=1)
    assert "reason" in exc.value.message_dict
    other = clinician()
    later = at(DAY + timedelta(days=3))  # an amendment may come later than the day
    b = record(session, by=other, hair_density_per_cm2=61, reason="Misread", now=later)
    assert b.version == 2 and b.hair_density_per_cm2 == 61
    assert b.seen_by == session.clinician and b.seen_on == DAY  # still day 0, same clinician
    versions = FollowUpRevision.objects.filter(follow_up=b).order_by("version")
    assert [(r.hair_density_per_cm2, r.recorded_by, r.reason) for r in versions] == [
        (60, session.clinician, ""),
        (61, other, "Misread"),
    ]


def test_the_page_records_it_and_reception_gets_403(clinician_client, staff_client):
    session = completed_session()
    url = reverse("session_baseline", args=[session.pk])
    assert staff_client.get(url).status_code == 403
    assert staff_client.post(url, {"version": 0, "hair_density_per_cm2": "60"}).status_code == 403
    html = clinician_client.get(url).content.decode()
    labels = re.findall(r"Photo: ([^<*]+?)\s*<", html)
    assert labels == ["Top", "Hairline (front)", "Crown", "Left side", "Right side"]
    response = clinician_client.post(
        url,
        {
            "version": 0,
            "hair_density_per_cm2": "60.5",
            "shaft_thickness_um": "55",
            "photo_top": photo(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    b = baseline.baseline_of(session)
    assert b.hair_density_per_cm2 == 60.5 and b.recorded_by == clinician_client.user
    html = clinician_client.get(url).content.decode()
    views = re.search(r'id="baseline-views">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r"<li>([^:]+): <span class=\"text-(\w+)", views) == [
        ("Top", "success"),
        ("Hairline (front)", "danger"),
        ("Crown", "danger"),
        ("Left side", "danger"),
        ("Right side", "danger"),
    ]
    assert "missing" in views
    # An amendment without a reason keeps what was typed and says why.
    response = clinician_client.post(url, {"version": 1, "hair_density_per_cm2": "70"})
    assert response.status_code == 200 and 'value="70"' in response.content.decode()
    b.refresh_from_db()
    assert b.hair_density_per_cm2 == 60.5


@pytest.mark.parametrize(
    "data",
    [
        {"version": "x"},
        {"version": "-1"},
        {"version": "0", "hair_density_per_cm2": "abc"},
        {"version": "0", "hair_density_per_cm2": "1e999"},
        {"version": "99999999999999999999999"},
        {"version": "0", "photo_top": "not a file"},
    ],
)
def test_the_baseline_page_never_500s(clinician_client, data):
    session = completed_session()
    response = clinician_client.post(reverse("session_baseline", args=[session.pk]), data)
    assert response.status_code == 200
    assert baseline.baseline_of(session) is None


def test_the_chart_starts_at_day_0(clinician_client):
    session = completed_session()
    record(session, hair_density_per_cm2=60, patient_rating=4)
    assessment = session.follow_ups.get(kind="assessment")
    services.record_follow_up(
        follow_up=assessment,
        status=FollowUpStatus.DONE,
        recorded_by=session.clinician,
        hair_density_per_cm2=80,
        now=at(assessment.due_date),
    )
    page = patient_page(session.patient, today=DAY, now=NOW)
    chart = progress_chart(page.progress)
    assert [(r.day, r.kind, r.density) for r in chart["rows"]] == [
        (DAY, "Baseline (day 0)", 60),
        (assessment.due_date, "Assessment", 80),
    ]
    density = chart["panels"][0][3]
    assert density.dots[0].x == chart["left"]  # day 0 is where the chart begins
    html = clinician_client.get(reverse("patient_detail", args=[session.patient.pk])).content
    table = re.search(r'id="progress-table">(.*?)</table>', html.decode(), re.S).group(1)
    assert table.index("Baseline (day 0), 4 Jan 2027") < table.index("Assessment")


def two_visits(patient=None, *, shared=True):
    """A baseline with the top and crown views, a 6-month assessment with the top only."""
    session = completed_session(patient)
    b = record(
        session,
        hair_density_per_cm2=60,
        shared_with_patient=shared,
        photos=[("top", photo()), ("crown", photo())],
    )
    assessment = session.follow_ups.get(kind="assessment")
    a = services.record_follow_up(
        follow_up=assessment,
        status=FollowUpStatus.DONE,
        recorded_by=session.clinician,
        hair_density_per_cm2=80,
        shared_with_patient=shared,
        photos=[("top", photo())],
        now=at(assessment.due_date),
    )
    return b, a


def photo_url(name, follow_up, view):
    return reverse(name, args=[follow_up.photos.get(view=view).pk])


def test_the_comparison_shows_one_view_at_two_dates(clinician_client):
    b, a = two_visits()
    url = reverse("photo_compare", args=[b.session.patient_id])
    html = clinician_client.get(url, {"view": "top", "before": b.pk, "after": a.pk}).content
    html = html.decode()
    before = re.search(r'id="compare-before-photo">(.*?)</figure>', html, re.S).group(1)
    after = re.search(r'id="compare-after-photo">(.*?)</figure>', html, re.S).group(1)
    assert photo_url("follow_up_photo", b, "top") in before and "4 January 2027" in before
    assert photo_url("follow_up_photo", a, "top") in after and "Assessment" in after
    # The defaults: the first view, day 0 and the latest visit.
    assert clinician_client.get(url).content.decode().count('src="/photos/') == 2
    # A view missing at a visit is shown as missing, not skipped.
    html = clinician_client.get(url, {"view": "crown"}).content.decode()
    after = re.search(r'id="compare-after-photo">(.*?)</figure>', html, re.S).group(1)
    assert "Crown: missing at this visit." in after
    assert photo_url("follow_up_photo", b, "crown") in html
    # Each photo the page shows is fetched through the logged, permission-checking view.
    assert clinician_client.get(photo_url("follow_up_photo", b, "top")).status_code == 200


def test_reception_does_not_see_the_comparison(staff_client):
    b, _ = two_visits()
    url = reverse("photo_compare", args=[b.session.patient_id])
    assert staff_client.get(url).status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "view=nope&before=abc&after=-1",
        "before=99999999999999999999999999&after=1e5",
        "view=top&view=crown&before=&after=%20",
        "view[]=top&before=1.5",
        "after=%F0%9F%98%80",
    ],
)
def test_bad_comparison_input_is_no_500(clinician_client, frozen, query):
    b, a = two_visits()
    url = reverse("photo_compare", args=[b.session.patient_id])
    response = clinician_client.get(f"{url}?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    # What did not parse fell back to the defaults: day 0 beside the latest visit.
    before = re.search(r'id="compare-before-photo">(.*?)</figure>', html, re.S).group(1)
    assert re.search(r'src="/photos/\d+/"', before) and "4 January 2027" in before


def test_the_patient_compares_only_own_shared_photos(frozen):
    mine_b, mine_a = two_visits()
    patient = mine_b.session.patient
    other_b, other_a = two_visits()
    # Shared baseline, unshared assessment: the portal never offers the unshared visit.
    session = completed_session(PatientFactory())
    record(session, shared_with_patient=True, photos=[("top", photo())])
    client = portal_client(patient)
    url = reverse("portal_compare")
    html = client.get(url, {"view": "top"}).content.decode()
    assert photo_url("portal_photo", mine_b, "top") in html
    assert photo_url("portal_photo", mine_a, "top") in html
    # Another patient's visit ids are not a choice: the page falls back to the patient's own.
    html = client.get(url, {"before": other_b.pk, "after": other_a.pk}).content.decode()
    assert "compare-errors" in html
    assert photo_url("portal_photo", other_b, "top") not in html
    assert photo_url("portal_photo", other_a, "top") not in html
    assert photo_url("portal_photo", mine_b, "top") in html


def test_unshared_visits_are_not_in_the_portal_comparison(frozen):
    b, a = two_visits(shared=False)
    client = portal_client(b.session.patient)
    html = client.get(reverse("portal_compare"), {"before": b.pk, "after": a.pk}).content
    html = html.decode()
    assert "compare-empty" in html and "/portal/photos/" not in html
    for visit in (b, a):
        assert client.get(photo_url("portal_photo", visit, "top")).status_code == 404


def _visits_as_the_orm_read_them(patient, *, shared_only):
    """photo_visits as it was written before its reads were compiled (issue 18)."""
    from django.db.models import Prefetch

    from treatments.models import FollowUp, FollowUpPhoto
    from treatments.selectors import PhotoVisit

    rows = FollowUp.objects.filter(session__patient=patient, status=FollowUpStatus.DONE)
    if shared_only:
        rows = rows.filter(shared_with_patient=True)
    rows = rows.prefetch_related(
        Prefetch("photos", queryset=FollowUpPhoto.objects.order_by("uploaded_at", "id"))
    ).order_by("due_date", "id")
    return [PhotoVisit(f, {p.view: p for p in f.photos.all()}) for f in rows]


@pytest.mark.django_db
def test_the_compiled_visits_are_the_orms(frozen):
    from treatments.selectors import photo_visits

    b, _ = two_visits(shared=False)
    patient = b.session.patient
    for follow_up in b.session.follow_ups.filter(kind__in=["aftercare_check", "early_result"]):
        services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=b.session.clinician,
            shared_with_patient=True,
            photos=[("top", photo()), ("left", photo()), ("top", photo())],
            now=at(follow_up.due_date),
        )
    two_visits()  # someone else's
    for shared_only in (False, True):
        ours = photo_visits(patient, shared_only=shared_only)
        orm = _visits_as_the_orm_read_them(patient, shared_only=shared_only)
        assert [(v.follow_up.pk, v.by_view, v.label) for v in ours] == [
            (v.follow_up.pk, v.by_view, v.label) for v in orm
        ]
        assert len(ours) == (2 if shared_only else 4)
    assert photo_visits(PatientFactory(), shared_only=False) == []


def _counts(clinician_client, portal, session) -> list[int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for client, url in (
        (clinician_client, reverse("photo_compare", args=[session.patient_id])),
        (clinician_client, reverse("session_baseline", args=[session.pk])),
        (portal, reverse("portal_compare")),
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return counts


def test_query_counts_are_pinned(clinician_client, django_assert_max_num_queries):
    b, _ = two_visits()
    session = b.session
    portal = portal_client(session.patient)
    few = _counts(clinician_client, portal, session)
    for follow_up in session.follow_ups.filter(kind__in=["aftercare_check", "early_result"]):
        services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=session.clinician,
            shared_with_patient=True,
            photos=[("top", photo()), ("left", photo()), ("right", photo())],
            now=at(follow_up.due_date),
        )
    assert _counts(clinician_client, portal, session) == few, few  # not growing with the data
    with django_assert_max_num_queries(COMPARE_QUERIES):
        clinician_client.get(reverse("photo_compare", args=[session.patient_id]))
    with django_assert_max_num_queries(BASELINE_QUERIES):
        clinician_client.get(reverse("session_baseline", args=[session.pk]))
    with django_assert_max_num_queries(PORTAL_COMPARE_QUERIES):
        portal.get(reverse("portal_compare"))


COMPARE_QUERIES = 8  # 7 + the Inbox unread count in the staff navigation (issue 17)
BASELINE_QUERIES = 9  # 8 + the Inbox unread count
PORTAL_COMPARE_QUERIES = 7


def test_the_follow_up_page_sends_the_baseline_to_its_own_page(clinician_client):
    """Never marked "missed" through the follow-up form: it has its own page."""
    session = completed_session()
    b = record(session, hair_density_per_cm2=60)
    response = clinician_client.get(reverse("follow_up_record", args=[b.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("session_baseline", args=[session.pk])
    response = clinician_client.post(
        reverse("follow_up_record", args=[b.pk]), {"status": "missed", "version": 1, "reason": "x"}
    )
    b.refresh_from_db()
    assert b.status == FollowUpStatus.DONE


def test_a_protocol_cannot_plan_the_baseline_as_a_follow_up():
    from treatments.models import ProtocolVersion

    version = ProtocolVersion(
        name="x", effective_from=DAY, follow_up_plan=[{"kind": "baseline", "days": 0}]
    )
    with pytest.raises(ValidationError) as exc:
        version.clean()
    assert "follow_up_plan" in exc.value.message_dict
    version.follow_up_plan = [{"kind": "assessment", "months": 6}]
    version.clean()


# --- The staff comparison written in Python (issue 18) ----------------------------------
# staff/photo_compare.html's content is written by the view (ui.compare); the template it
# was is kept as the reference (it includes _photo_compare.html, the portal's too).
def _as_the_reference_renders_it(response) -> tuple[str, str]:
    from pathlib import Path

    from django.template import engines

    reference = engines["django"].from_string(
        (Path(__file__).parent / "reference" / "photo_compare.html").read_text()
    )
    context = next(c for c in response.context if "pair" in c).flatten()
    expected = reference.render(context, response.wsgi_request)
    masked = re.compile(r'(name="csrfmiddlewaretoken" value=)"[^"]*"')
    return masked.sub(r"\1", response.content.decode()), masked.sub(r"\1", expected)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "view=top",
        "view=crown",  # missing at the assessment
        "view=left",  # missing at both
        "view=nope&before=abc&after=-1",
        "view=top&view=crown&before=&after=%20",
        "after=%F0%9F%98%80",
    ],
)
def test_the_comparison_is_the_templates_byte_for_byte(clinician_client, query):
    b, a = two_visits(PatientFactory(first_name='Zoë <b>"&', last_name="O'Neil"))
    url = reverse("photo_compare", args=[b.session.patient_id])
    for asked in (query, f"{query}&before={a.pk}&after={b.pk}"):
        page, expected = _as_the_reference_renders_it(clinician_client.get(f"{url}?{asked}"))
        assert page == expected
        assert "Zoë &lt;b&gt;&quot;&amp; O&#x27;Neil" in page


def test_the_comparison_without_visits_is_the_templates(clinician_client):
    session = completed_session()
    url = reverse("photo_compare", args=[session.patient_id])
    page, expected = _as_the_reference_renders_it(clinician_client.get(url))
    assert page == expected and 'id="compare-empty"' in page
    assert clinician_client.get(reverse("photo_compare", args=[999999])).status_code == 404


@pytest.mark.parametrize("language", ["de", "tr"])
def test_the_comparison_in_other_languages_is_the_templates(clinician_client, language):
    from django.template import engines
    from django.utils import translation

    from ui.compare import compare_html
    from ui.rows import link_maker

    b, _ = two_visits()
    response = clinician_client.get(
        reverse("photo_compare", args=[b.session.patient_id]), {"view": "crown"}
    )
    context = next(c for c in response.context if "pair" in c).flatten()
    partial = engines["django"].get_template("_photo_compare.html")
    with translation.override(language):
        written = compare_html(context, link_maker("follow_up_photo"))
        assert written == partial.render(context, response.wsgi_request)
