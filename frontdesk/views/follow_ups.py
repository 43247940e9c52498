"""Follow-ups: recording one (and its photos), the admins' review, its CSV export, and
marking overdue ones missed."""

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.decorators import permission_required
from audit.models import AccessKind
from audit.web import note_export, note_read
from frontdesk.forms import (
    FIELD_FOR_CODE,
    BaselineForm,
    FollowUpForm,
    MarkMissedForm,
    ReviewFilterForm,
)
from patients.selectors import patient_by_id
from treatments import baseline, selectors, services
from treatments.models import (
    FollowUp,
    FollowUpKind,
    FollowUpPhoto,
    FollowUpStatus,
    PhotoView,
    TreatmentSession,
)
from treatments.photos import photo_response
from ui.compare import compare_html
from ui.csrf import csrf_input
from ui.forms import (
    PhotoCompareForm,
    add_service_error,
    bootstrap_field,
    compare_context,
    page_number,
)
from ui.nav import where
from ui.pagination import pager_html, window_of
from ui.rows import day_and_month, escaped, link_maker, short_day, staff_said

from .common import now_and_today


@permission_required("treatments.change_followup")
def follow_up_record(request, pk):
    """Record a follow-up, or amend a recorded one (clinicians). The front desk may only mark
    a planned follow-up missed."""
    follow_up = get_object_or_404(
        FollowUp.objects.select_related("session__patient", "session__protocol", "seen_by"), pk=pk
    )
    if follow_up.kind == FollowUpKind.BASELINE:  # never "missed": it has its own page
        return redirect("session_baseline", pk=follow_up.session_id)
    can_record_findings = roles.role_grants(request.user, services.FINDINGS_PERMISSION)
    if follow_up.status != "planned" and not can_record_findings:
        raise PermissionDenied("Only a clinician can amend a recorded follow-up.")
    form = FollowUpForm(
        request.POST or None,
        request.FILES or None,
        follow_up=follow_up,
        can_record_findings=can_record_findings,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_follow_up(
                follow_up=follow_up,
                status=data["status"],
                recorded_by=request.user,
                photos=form.photos(),
                reason=data.get("reason", ""),
                expected_version=data["version"],
                **form.findings(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "Follow-up amended.")
                if form.amending
                else pgettext("staff", "Follow-up recorded."),
            )
            return redirect("patient_detail", pk=follow_up.session.patient_id)
    return render(
        request,
        "staff/follow_up_form.html",
        {
            "form": form,
            "follow_up": follow_up,
            "revisions": follow_up.revisions.select_related("recorded_by", "seen_by").order_by(
                "-version"
            ),
        },
    )


@permission_required("treatments.view_followupphoto")
def follow_up_photo(request, pk):
    """A follow-up photo, to signed-in staff only (photos are never public media)."""
    photo = get_object_or_404(
        FollowUpPhoto.objects.annotate(patient_id=F("follow_up__session__patient_id")), pk=pk
    )
    note_read(request, patient_id=photo.patient_id, kind=AccessKind.PHOTO, object_id=photo.pk)
    return photo_response(photo)


def _review_filters(request, today, *, default_status="overdue"):
    """The form and the filters it gives (selectors.follow_up_review's arguments)."""
    form = ReviewFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status") or default_status
    filters = {
        "today": today,
        "status": status,
        "kind": data.get("kind") or "",
        "clinician_id": data["clinician"].pk if data.get("clinician") else None,
        "date_from": data.get("date_from"),
        "date_to": data.get("date_to"),
    }
    return form, status, filters


# One row of the review's table (tests/reference/follow_up_review.html printed them).
_SELECT = (
    '<input class="form-check-input" type="checkbox" name="follow_up" value="{}" aria-label="{}">'
)
_FLAG = ' <span class="badge text-bg-danger flag">{}</span>'
_RECORD = '<a class="btn btn-sm btn-outline-primary record-link" href="{}">{}</a>'
_OPEN = '<a class="record-link" href="{}">{}</a>'
_FROM = '<span class="text-muted small">{}</span>'


@dataclass(frozen=True)
class _ReviewWords:
    """The review's texts in the reader's language (a template's translated literals are
    HTML: here too; labels escaped once) and its links: the same on every request in a
    language, so looked up once (`_review_words`)."""

    patient_link: Callable[[int], str]
    record_link: Callable[[int], str]
    kinds: dict[str, str]
    statuses: dict[str, str]
    select: str  # "Select %(full_name)s"
    from_day: str  # "from %(due_from)s"
    flag: str
    record: str
    open: str
    more: str  # "more than %(count)s"
    title: str
    head: str  # the page's start, to the first card's figure
    overdue_card: str  # the first card's end, to the second card's figure
    due_now_card: str
    week_card: str
    adherence_card: str  # after the adherence figure, to the time it was counted
    counted_at: str  # "counted at %(time)s"
    cards_end: str
    nothing_overdue: str
    filters_start: str
    filters_end: str  # after the fields, to the CSV link's query
    csv_end: str  # after the CSV link's query, to the CSRF token
    table_start: str  # after the CSRF token, to the `next` path
    table_head: str  # after the `next` path, to the rows
    nothing_matches: str
    table_end: str


@lru_cache(maxsize=16)
def _review_words(where: tuple[str, str, str]) -> _ReviewWords:
    """`where`: ui.nav.where(), the language and URLs the words and links depend on."""
    # Each msgid as the template had it (makemessages does not look inside f-strings).
    t = {
        "review": pgettext("staff", "Follow-up review"),
        "overdue_now": pgettext("staff", "overdue now"),
        "due_now": pgettext("staff", "due now"),
        "due_this_week": pgettext("staff", "due this week"),
        "adherence": pgettext("staff", "adherence, last 90 days"),
        "nothing_overdue": pgettext("staff", "Nothing is overdue. Below: what is due this week."),
        "filter": pgettext("staff", "Filter"),
        "csv": pgettext("staff", "CSV"),
        "follow_ups": pgettext("staff", "Follow-ups"),
        "select": pgettext("staff", "Select"),
        "due": pgettext("staff", "Due"),
        "kind": pgettext("staff", "Kind"),
        "status": pgettext("staff", "Status"),
        "patient": pgettext("staff", "Patient"),
        "clinician": pgettext("staff", "Clinician"),
        "session": pgettext("staff", "Session"),
        "seen_on": pgettext("staff", "Seen on"),
        "record": pgettext("staff", "Record"),
        "nothing_matches": pgettext("staff", "Nothing matches."),
        "mark_missed": pgettext("staff", "Mark selected as missed"),
    }
    card = '<div class="col-6 col-md-3">'  # each card's column
    return _ReviewWords(
        patient_link=link_maker("patient_detail"),
        record_link=link_maker("follow_up_record"),
        kinds={value: escaped(label) for value, label in FollowUpKind.choices},
        statuses={value: escaped(label) for value, label in FollowUpStatus.choices},
        select=pgettext("staff", "Select %(full_name)s"),
        from_day=pgettext("staff", "from %(due_from)s"),
        flag=_FLAG.format(escaped(pgettext("staff", "overdue"))),
        record=escaped(pgettext("staff", "Record")),
        open=escaped(pgettext("staff", "Open")),
        more=pgettext("staff", "more than %(count)s"),
        title=t["review"],
        head=(
            f'\n<h1 class="h3">{t["review"]}</h1>\n<div class="row g-2 mb-3">\n  '
            f'{card}<div class="card text-bg-danger"><div class="card-body">'
            '<div class="h3 mb-0" id="count-overdue">'
        ),
        overdue_card=(
            f"</div>{t['overdue_now']}</div></div></div>\n  "
            f'{card}<div class="card text-bg-warning"><div class="card-body">'
            '<a class="stretched-link text-reset text-decoration-none" href="?status=due_now">'
            '<div class="h3 mb-0" id="count-due-now">'
        ),
        due_now_card=(
            f"</div>{t['due_now']}</a></div></div></div>\n  "
            f'{card}<div class="card text-bg-primary"><div class="card-body">'
            '<a class="stretched-link text-reset text-decoration-none" href="?status=week">'
            '<div class="h3 mb-0" id="count-week">'
        ),
        week_card=(
            f"</div>{t['due_this_week']}</a></div></div></div>\n  "
            f'{card}<div class="card"><div class="card-body">'
            '<div class="h3 mb-0" id="count-adherence">'
        ),
        adherence_card=f'</div>{t["adherence"]}<div class="small opacity-75">',
        counted_at=pgettext("staff", "counted at %(time)s"),
        cards_end="</div></div></div></div>\n</div>\n",
        nothing_overdue=(
            f'<p class="alert alert-success" id="nothing-overdue">{t["nothing_overdue"]}</p>'
        ),
        filters_start=(
            '\n<form method="get" class="row g-2 align-items-end mb-3" id="review-filters">\n  '
        ),
        filters_end=(
            '\n  <div class="col-12 col-md-2 d-flex gap-2 mb-3">\n'
            f'    <button class="btn btn-primary" type="submit">{t["filter"]}</button>\n'
            '    <a class="btn btn-outline-secondary" id="csv-export" '
            f'href="{reverse("follow_up_review_csv")}?'
        ),
        csv_end=(
            f'">{t["csv"]}</a>\n  </div>\n</form>\n'
            f'<form method="post" action="{reverse("follow_up_mark_missed")}">'
        ),
        table_start='\n<input type="hidden" name="next" value="',
        table_head=(
            '">\n<div class="table-responsive" tabindex="0" role="region" '
            f'aria-label="{t["follow_ups"]}"><table class="table table-sm" id="review-table">\n'
            f'  <thead><tr><th><span class="visually-hidden">{t["select"]}</span></th>'
            f"<th>{t['due']}</th><th>{t['kind']}</th><th>{t['status']}</th>"
            f"<th>{t['patient']}</th><th>{t['clinician']}</th><th>{t['session']}</th>"
            f"<th>{t['seen_on']}</th>"
            f'<th><span class="visually-hidden">{t["record"]}</span></th></tr></thead>\n'
            "  <tbody>\n  "
        ),
        nothing_matches=(
            f'<tr><td colspan="9" class="text-muted">{t["nothing_matches"]}</td></tr>'
        ),
        table_end=(
            "\n  </tbody>\n</table></div>\n"
            f'<button class="btn btn-outline-danger btn-sm" type="submit">{t["mark_missed"]}'
            "</button>\n</form>"
        ),
    )


def _prepare_rows(page, w: _ReviewWords) -> SafeString:
    """The table's rows written once in Python from the rows' plain values
    (selectors.ReviewRows), every value typed by someone escaped (ui.rows.escaped), on lines
    as the template's loop wrote them: a Django template took about 100 µs a row to resolve
    its cells, and a per-row {% blocktranslate %}, {% url %} or date filter more. The texts
    keep their "staff" msgids, looked up once a language (`_review_words`)."""
    done = (FollowUpStatus.DONE, FollowUpStatus.MISSED)
    rows = []
    for f in page:
        full_name = f"{f['session__patient__first_name']} {f['session__patient__last_name']}"
        pk = int(f["pk"])
        if f["may_be_recorded"]:
            action = _RECORD.format(w.record_link(pk), w.record)
        elif f["status"] in done:
            action = _OPEN.format(w.record_link(pk), w.open)
        else:
            action = _FROM.format(escaped(w.from_day % {"due_from": day_and_month(f["due_from"])}))
        select = (
            _SELECT.format(pk, escaped(w.select % {"full_name": full_name}))
            if f["may_be_marked_missed"]
            else ""
        )
        clinician = selectors.clinician_name(
            f["session__clinician__first_name"],
            f["session__clinician__last_name"],
            f["session__clinician__username"],
        )
        # Days are written from ASCII digits and C-locale month and day names: nothing to
        # escape in them.
        rows.append(
            f"\n    <tr><td>{select}</td>"
            f"<td>{short_day(f['due_date'], weekday=True)}{w.flag if f['overdue'] else ''}</td>"
            f"<td>{w.kinds[f['kind']]}</td><td>{w.statuses[f['status']]}</td>"
            f'<td><a href="{w.patient_link(f["session__patient_id"])}">{escaped(full_name)}</a>'
            f"</td><td>{escaped(clinician)}</td><td>{short_day(f['session__local_date'])}</td>"
            f"<td>{short_day(f['seen_on']) or '–'}</td><td>{action}</td></tr>\n  "
        )
    return SafeString("".join(rows))  # every value escaped above


def _shown_counts(counts, w: _ReviewWords) -> dict:
    """Each card's figure: the count, or "more than 10,000" past selectors.COUNT_CAP."""
    more = w.more % {"count": f"{counts['cap']:,}"}
    return {
        name: more if name in counts["capped"] else str(counts[name])
        for name in ("overdue", "due_now", "due_this_week")
    }


def _review_content(request, w: _ReviewWords, form, page, rows, counts, page_query) -> SafeString:
    """The page's content (tests/reference/follow_up_review.html's, but for its pager),
    written in Python, every value escaped."""
    shown = counts["shown"]
    adherence = counts["adherence"]
    counted_at = counts["adherence_counted_at"]
    counted = "" if counted_at is None else f"{timezone.localtime(counted_at):%H:%M}"
    parts = [
        w.head,
        escaped(shown["overdue"]),
        w.overdue_card,
        escaped(shown["due_now"]),
        w.due_now_card,
        escaped(shown["due_this_week"]),
        w.week_card,
        "–" if adherence is None else f"{escaped(localize(adherence))}%",
        w.adherence_card,
        staff_said(w.counted_at, time=counted),
        w.cards_end,
        w.nothing_overdue if not counts["overdue"] and not request.GET.get("status") else "",
        w.filters_start,
        *(f'<div class="col-6 col-md-2">{bootstrap_field(field)}</div>' for field in form),
        w.filters_end,
        escaped(page_query),
        w.csv_end,
        csrf_input(request),
        w.table_start,
        escaped(request.get_full_path()),
        w.table_head,
        rows if page else w.nothing_matches,
        w.table_end,
    ]
    return SafeString("".join(parts))  # every value escaped above


@permission_required("treatments.review_followup")
def follow_up_review(request):
    now, today = now_and_today()
    counts = selectors.follow_up_counts(today=today, now=now)
    # The first page is never empty for nothing: with nothing overdue it opens on what is
    # due this week.
    form, status, filters = _review_filters(
        request, today, default_status="overdue" if counts["overdue"] else "week"
    )
    read = selectors.ReviewRows(**filters).read
    page = window_of(read, page_number(request.GET), selectors.REVIEW_PAGE_SIZE)
    w = _review_words(where())
    rows = _prepare_rows(page, w)
    counts["shown"] = _shown_counts(counts, w)
    query = request.GET.copy()
    query.pop("page", None)
    page_query = query.urlencode()
    return render(
        request,
        "staff/follow_up_review.html",
        {
            # What tests/reference/follow_up_review.html renders the page from:
            "form": form,
            "page": page,
            "rows": rows,
            "status": status,
            "counts": counts,
            "today": today,
            "page_query": page_query,
            # What the page is rendered from:
            "title": SafeString(w.title),  # a translated literal, HTML as in a template
            "content": _review_content(request, w, form, page, rows, counts, page_query),
            "pager": pager_html(page, page_query),
        },
    )


@permission_required("treatments.export_followup")
def follow_up_review_csv(request):
    now, today = now_and_today()
    _, status, filters = _review_filters(request, today)
    qs = selectors.follow_up_review(**filters)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="follow-ups-{status}-{today}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "due date",
            "kind",
            "status",
            "patient",
            "email",
            "phone",
            "clinician",
            "session day",
            "seen on",
            "hair density",
            "rating",
        ]
    )
    exported = []
    for f in qs.iterator(chunk_size=1000):
        patient = f.session.patient
        exported.append(patient.pk)
        writer.writerow(
            [
                f.due_date.isoformat(),
                f.get_kind_display(),
                f.get_status_display(),
                _csv_safe(patient.full_name),
                _csv_safe(patient.email),
                _csv_safe(patient.phone),
                _csv_safe(f.session.clinician.get_full_name() or f.session.clinician.username),
                f.session.local_date.isoformat(),
                f.seen_on.isoformat() if f.seen_on else "",
                f.hair_density_per_cm2 or "",
                f.patient_rating or "",
            ]
        )
    note_export(request, patient_ids=exported)  # one INSERT for all the patients exported
    return response


# What a spreadsheet program runs as a formula when a cell starts with it (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A number as people write it ("+49 170 555 0101", "-3.5", "(030) 12 34"): a leading sign
# makes no formula of it that could call a function or reach another cell.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9 ()./-]*[0-9][0-9 ()./-]*")


def _csv_safe(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula: a cell that begins one
    ("=HYPERLINK(...)", "@SUM", "+A1", "-cmd|...") gets a leading apostrophe; a phone
    number or any other cell is written as it is (no stray apostrophe)."""
    if value[:1] in FORMULA_STARTS and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


@permission_required("treatments.review_followup", "treatments.change_followup")
@require_POST
def follow_up_mark_missed(request):
    form = MarkMissedForm(request.POST)
    if form.is_valid():
        marked = services.mark_follow_ups_missed(
            follow_ups=form.cleaned_data["follow_up"], recorded_by=request.user
        )
        messages.success(
            request,
            pgettext("staff", "%(count)s follow-up(s) marked as missed.") % {"count": marked},
        )
    else:
        messages.error(
            request, pgettext("staff", "Nothing was marked: choose follow-ups from the list.")
        )
    return HttpResponseRedirect(_next_on_this_site(request, form.data.get("next")))


def _next_on_this_site(request, target) -> str:
    """`next` if it is a path on this site, else the review (never another site)."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return reverse("follow_up_review")


@permission_required(services.FINDINGS_PERMISSION)
def session_baseline(request, pk):
    """Record the session's day-0 baseline, or amend it (clinicians), through the baseline
    service: the standard views are asked for in their fixed order, a missing one is shown."""
    session = get_object_or_404(TreatmentSession.objects.select_related("patient"), pk=pk)
    follow_up = baseline.baseline_of(session) or baseline.unsaved_baseline(session)
    form = BaselineForm(request.POST or None, request.FILES or None, follow_up=follow_up)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            baseline.record_baseline(
                session=session,
                recorded_by=request.user,
                photos=form.photos(),
                reason=data.get("reason", ""),
                expected_version=data["version"],
                **form.findings(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "Baseline amended.")
                if form.amending
                else pgettext("staff", "Baseline recorded."),
            )
            return redirect("patient_detail", pk=session.patient_id)
    taken = {p.view for p in follow_up.photos.all()} if follow_up.pk else set()
    return render(
        request,
        "staff/baseline_form.html",
        {
            "form": form,
            "session": session,
            "follow_up": follow_up,
            "views": [(label, view in taken) for view, label in PhotoView.choices],
            "revisions": (
                follow_up.revisions.select_related("recorded_by", "seen_by").order_by("-version")
                if follow_up.pk
                else []
            ),
        },
    )


@permission_required("treatments.view_followupphoto")
def photo_compare(request, pk):
    """Before/after: one standard view at two visits (day 0 and a follow-up), side by side.
    Each photo shown is fetched through follow_up_photo, which logs the read."""
    patient = patient_by_id(pk)  # compiled once (patients.selectors)
    if patient is None:
        raise Http404("No Patient matches the given query.")
    visits = selectors.photo_visits(patient, shared_only=False)
    form = PhotoCompareForm(request.GET or None, visits=visits, views=PhotoView.choices)
    view, view_label, before, after = form.chosen()
    note_read(request, patient_id=patient.pk, kind=AccessKind.PATIENT_PAGE)
    context = {
        "patient": patient,
        **compare_context(form, view, view_label, before, after),
        "photo_url": "follow_up_photo",
    }
    # The content written in Python (the template it was: tests/reference/photo_compare.html).
    links = _compare_links(where())
    context["title"] = staff_said(
        pgettext("staff", "Before and after: %(full_name)s"), full_name=patient.full_name
    )
    back = pgettext("staff", "Back to the patient")  # makemessages skips f-strings
    context["content"] = SafeString(
        f'\n<h1 class="h3">{context["title"]}</h1>\n'
        f"{compare_html(context, links['follow_up_photo'])}"
        f'\n<p class="mt-3"><a href="{links["patient_detail"](patient.pk)}">'
        f"{back}</a></p>\n"
    )
    return render(request, "staff/photo_compare.html", context)


@lru_cache(maxsize=16)
def _compare_links(where: tuple[str, str, str]) -> dict:
    """The comparison's links for ui.nav.where()'s URLs, reversed once."""
    return {name: link_maker(name) for name in ("follow_up_photo", "patient_detail")}
