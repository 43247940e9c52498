"""Follow-ups: recording one (and its photos), the admins' review, its CSV export, and
marking overdue ones missed."""

import csv
import re
from functools import lru_cache

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
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
from ui.forms import PhotoCompareForm, add_service_error, compare_context, page_number
from ui.nav import where
from ui.pagination import window_of
from ui.rows import day_and_month, link_maker, row_html, short_day, staff_said

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


# One row of the review's table (templates/staff/follow_up_review.html prints them).
_ROW = (
    "<tr><td>{select}</td><td>{due}{flag}</td><td>{kind}</td><td>{status}</td>"
    '<td><a href="{patient_url}">{patient}</a></td><td>{clinician}</td><td>{session_day}</td>'
    "<td>{seen}</td><td>{action}</td></tr>"
)
_SELECT = (
    '<input class="form-check-input" type="checkbox" name="follow_up" value="{}" aria-label="{}">'
)
_FLAG = ' <span class="badge text-bg-danger flag">{}</span>'
_RECORD = '<a class="btn btn-sm btn-outline-primary record-link" href="{}">{}</a>'
_OPEN = '<a class="record-link" href="{}">{}</a>'
_FROM = '<span class="text-muted small">{}</span>'


def _prepare_rows(page) -> SafeString:
    """The table's rows written once in Python, each escaped by ui.rows.row_html, from the
    rows' plain values (selectors.ReviewRows), on lines as the template's loop wrote them:
    a Django template took about 100 µs a row to resolve its cells (the page's dearest
    part), and a per-row {% blocktranslate %}, {% url %} or date filter more. The texts
    keep their "staff" msgids, translated and escaped once a page."""
    patient_link, record_link = link_maker("patient_detail"), link_maker("follow_up_record")
    kinds = {value: conditional_escape(label) for value, label in FollowUpKind.choices}
    statuses = {value: conditional_escape(label) for value, label in FollowUpStatus.choices}
    select = pgettext("staff", "Select %(full_name)s")
    from_day = pgettext("staff", "from %(due_from)s")
    flag = format_html(_FLAG, pgettext("staff", "overdue"))
    record = conditional_escape(pgettext("staff", "Record"))
    open_ = conditional_escape(pgettext("staff", "Open"))
    done = (FollowUpStatus.DONE, FollowUpStatus.MISSED)
    rows = []
    for f in page:
        full_name = f"{f['session__patient__first_name']} {f['session__patient__last_name']}"
        record_url = record_link(f["pk"])
        if f["may_be_recorded"]:
            action = row_html(_RECORD, record_url, record)
        elif f["status"] in done:
            action = row_html(_OPEN, record_url, open_)
        else:
            action = row_html(_FROM, from_day % {"due_from": day_and_month(f["due_from"])})
        row = row_html(
            _ROW,
            select=row_html(_SELECT, f["pk"], select % {"full_name": full_name})
            if f["may_be_marked_missed"]
            else "",
            due=short_day(f["due_date"], weekday=True),
            flag=flag if f["overdue"] else "",
            kind=kinds[f["kind"]],
            status=statuses[f["status"]],
            patient_url=patient_link(f["session__patient_id"]),
            patient=full_name,
            clinician=selectors.clinician_name(
                f["session__clinician__first_name"],
                f["session__clinician__last_name"],
                f["session__clinician__username"],
            ),
            session_day=short_day(f["session__local_date"]),
            seen=short_day(f["seen_on"]) or "–",
            action=action,
        )
        rows.append(f"\n    {row}\n  ")
    return SafeString("".join(rows))  # each row escaped by row_html


def _shown_counts(counts) -> dict:
    """Each card's figure: the count, or "more than 10,000" past selectors.COUNT_CAP."""
    more = pgettext("staff", "more than %(count)s") % {"count": f"{counts['cap']:,}"}
    return {
        name: more if name in counts["capped"] else str(counts[name])
        for name in ("overdue", "due_now", "due_this_week")
    }


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
    rows = _prepare_rows(page)
    counts["shown"] = _shown_counts(counts)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "staff/follow_up_review.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "status": status,
            "counts": counts,
            "today": today,
            "page_query": query.urlencode(),
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
    context["content"] = SafeString(
        f'\n<h1 class="h3">{context["title"]}</h1>\n'
        f"{compare_html(context, links['follow_up_photo'])}"
        f'\n<p class="mt-3"><a href="{links["patient_detail"](patient.pk)}">'
        f"{pgettext('staff', 'Back to the patient')}</a></p>\n"
    )
    return render(request, "staff/photo_compare.html", context)


@lru_cache(maxsize=16)
def _compare_links(where: tuple[str, str, str]) -> dict:
    """The comparison's links for ui.nav.where()'s URLs, reversed once."""
    return {name: link_maker(name) for name in ("follow_up_photo", "patient_detail")}
