"""Patients: the list and search, registration, the patient's page, the portal invitation."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.decorators import permission_required
from audit import subject_access
from audit.models import AccessKind
from audit.selectors import HISTORY_PERMISSION
from audit.subject_access import EXPORT_PERMISSION
from audit.web import note_read
from frontdesk.forms import (
    FIELD_FOR_CODE,
    MergeForm,
    PatientEditForm,
    PatientForm,
    PatientSearchForm,
)
from patients import intake as patient_intake
from patients import invitations
from patients.models import IntakeVersion, Patient
from patients.selectors import (
    list_rows,
    medical_changes,
    patient_by_id,
    patient_changes,
    possible_duplicates,
)
from patients.services import register_patient, update_patient
from reminders import selectors as reminder_selectors
from reminders.models import Channel, ReminderKind, ReminderState
from treatments.formatting import session_at
from treatments.merges import merge_patients
from treatments.models import FollowUpKind, FollowUpStatus, SessionStatus
from treatments.selectors import patient_page
from ui.charts import chart_html
from ui.csrf import hidden_input, page_token
from ui.forms import add_service_error, page_number
from ui.nav import where
from ui.pagination import pager_html, window_of
from ui.rows import (
    day_month_time,
    day_time,
    escaped,
    escaper,
    link_maker,
    padded_day,
    short_day,
    staff_said,
)

from . import patient_content
from .common import now_and_today


@permission_required("patients.view_patient")
def patient_list(request):
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page = window_of(list_rows(query), page_number(request.GET), 25)
    here = where()
    page_query = urlencode({"q": query}) if query else ""
    return render(
        request,
        "staff/patient_list.html",
        {
            "page": page,  # the rows as values (ListRow: the tests read them)
            "rows": _list_rows_html(page, here),
            "query": query,
            "form": form,
            "page_query": page_query,
            "words": _list_page_words(here),
            "head": _list_head(query, form, here),
            "pager": pager_html(page, page_query),
        },
    )


@dataclass(frozen=True)
class _ListRowWords:
    """The patient link and the rows' badges in the reader's language."""

    patient_link: Callable[[int], str]
    nsaid: str
    merged: str  # "merged into no. %(merged_into_id)s"


@lru_cache(maxsize=16)
def _list_words(where: tuple[str, str, str]) -> _ListRowWords:
    """`where`: ui.nav.where(), the language and URLs the words and link depend on."""
    nsaid = escaped(pgettext("staff", "prescribed NSAID"))
    return _ListRowWords(
        patient_link=link_maker("patient_detail"),
        nsaid=f' <span class="badge text-bg-danger flag">{nsaid}</span>',
        merged=pgettext("staff", "merged into no. %(merged_into_id)s"),
    )


@lru_cache(maxsize=16)
def _list_page_words(where: tuple[str, str, str]) -> dict[str, SafeString]:
    """The list page's fixed parts in the reader's language, as the template wrote them
    (a template's translated literals are HTML: here too): looked up once a language, the
    template's translations cost a third of the page."""
    patients = pgettext("staff", "Patients")
    search = pgettext("staff", "Search")
    placeholder = pgettext("staff", "Name, email or phone")
    register = pgettext("staff", "Register a patient")
    phones = pgettext("staff", "Phone numbers to fix")
    heads = [
        pgettext("staff", "Name"),
        pgettext("staff", "Email"),
        pgettext("staff", "Phone"),
        pgettext("staff", "Date of birth"),
    ]
    no_match = pgettext("staff", "No patient matches.")
    words = {
        "patients": patients,
        # The head up to the query's value, and after it up to the form's end.
        "head_start": (
            '\n<div class="d-flex flex-wrap gap-2 align-items-center mb-3">\n'
            f'  <h1 class="h3 mb-0 me-3">{patients}</h1>\n'
            '  <form method="get" class="d-flex gap-2" role="search">\n'
            f'    <label class="visually-hidden" for="q">{search}</label>\n'
            '    <input id="q" class="form-control" type="search" name="q" value="'
        ),
        "head_form_end": (
            f'" placeholder="{placeholder}">\n'
            f'    <button class="btn btn-outline-primary" type="submit">{search}</button>\n'
            "  </form>"
        ),
        "register": (
            '\n  <a class="btn btn-primary ms-auto" '
            f'href="{escaped(reverse("patient_create"))}">{register}</a>'
        ),
        "phones_link": (
            '<a class="btn btn-outline-secondary ms-2" '
            f'href="{escaped(reverse("phones_to_fix"))}">{phones}</a>'
        ),
        "table_start": (
            '<div class="table-responsive" tabindex="0" role="region" '
            f'aria-label="{patients}"><table class="table table-striped">\n'
            f"  <thead><tr>{''.join(f'<th>{head}</th>' for head in heads)}</tr></thead>\n"
            "  <tbody>\n  "
        ),
        "no_match": f'<tr><td colspan="4" class="text-muted">{no_match}</td></tr>',
    }
    return {name: mark_safe(text) for name, text in words.items()}  # noqa: S308 - our markup


def _list_head(query: str, form, here: tuple[str, str, str]) -> SafeString:
    """The page's head (title, search form, its error, the register button), as the
    template wrote it: tests/test_patient_search.py compares the page with it."""
    words = _list_page_words(here)
    error = ""
    if form.errors.get("q"):
        message = escaped(form.errors["q"][0])
        error = f'<div class="text-danger small" id="search-error">{message}</div>'
    return mark_safe(  # noqa: S308 - the query and error escaped, the rest our markup
        f"{words['head_start']}{escaped(query)}{words['head_form_end']}{error}{words['register']}"
    )


def _list_rows_html(rows, here: tuple[str, str, str]) -> SafeString:
    """The list's rows written once in Python, as the template's loop wrote them (spaced
    alike, every value escaped by ui.rows.escaped, the date of birth as `date:"d M Y"`):
    the loop's tags and filters cost more than the rest of the page.
    tests/test_patient_search.py compares it with the loop kept as a reference template."""
    w = _list_words(here)  # here: ui.nav.where()
    patient_link, nsaid, merged = w.patient_link, w.nsaid, w.merged
    parts = []
    for p in rows:
        badges = nsaid if p.takes_prescribed_nsaid else ""
        if p.merged_into_id:
            said = staff_said(merged, merged_into_id=p.merged_into_id)
            badges += f' <span class="badge text-bg-secondary">{said}</span>'
        parts.append(
            f'\n    <tr><td><a href="{patient_link(p.pk)}">{escaped(p.last_name)}, '
            f"{escaped(p.first_name)}</a>{badges}</td>\n    <td>{escaped(p.email)}</td>"
            f"<td>{escaped(p.phone)}</td><td>{padded_day(p.date_of_birth)}</td></tr>\n  "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped above


@permission_required("patients.add_patient")
def patient_create(request):
    form = PatientForm(request.POST or None)
    duplicates: list[Patient] = []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        consent = data.pop("contact_consent")
        confirmed = data.pop("not_a_duplicate")
        try:
            patient = register_patient(
                **data,
                contact_consent_at=timezone.now() if consent else None,
                confirmed_not_duplicate=confirmed,
            )
        except ValidationError as exc:
            if any(e.code == "possible_duplicate" for e in getattr(exc, "error_list", [])):
                # Link to the records already there; the staff may still confirm.
                duplicates = possible_duplicates(
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    date_of_birth=data["date_of_birth"],
                )
                form.ask_to_confirm_not_a_duplicate()
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "%(patient)s is registered.") % {"patient": patient.full_name},
            )
            return redirect("patient_detail", pk=patient.pk)
    return render(request, "staff/patient_form.html", {"form": form, "duplicates": duplicates})


@permission_required("patients.change_patient")
def patient_edit(request, pk):
    """Reception edits contact, zone, medications and preferences; the history is kept."""
    patient = get_object_or_404(Patient, pk=pk)
    form = PatientEditForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        loaded_at = data.pop("loaded_at")
        reason = data.pop("reason", "")
        try:
            update_patient(
                patient=patient,
                changed_by=request.user,
                data=data,
                expected_updated_at=loaded_at,
                reason=reason,
            )
        except PermissionDenied as exc:
            form.add_error("email", str(exc))
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "%(patient)s's record is saved.")
                % {"patient": patient.full_name},
            )
            return redirect("patient_detail", pk=patient.pk)
    return render(request, "staff/patient_edit.html", {"form": form, "patient": patient})


@permission_required("patients.view_patient")
def patient_detail(request, pk):
    patient = patient_by_id(pk)
    if patient is None:
        raise Http404("No such patient.")
    now, today = now_and_today()
    can_see_photos = roles.role_grants(request.user, "treatments.view_followupphoto")
    page = patient_page(patient, today=today, now=now, photos=can_see_photos)
    changes = patient_changes(patient)
    intake = patient_intake.newest_version(patient)
    note_read(request, patient_id=patient.pk, kind=AccessKind.PATIENT_PAGE)
    reminders = reminder_selectors.for_patient_rows(patient.pk)
    can_record_findings = roles.role_grants(request.user, "treatments.record_findings")
    here = where()  # the language and URLs the page's words and links are cached for
    _prepare_rows(page, can_record_findings=can_record_findings, here=here)
    token = page_token(request)  # the response's one token (ui.csrf), the layout's too
    _reminder_rows(reminders, token, here)
    context = {
        "csrf_token": token,
        "page": page,
        "patient": patient,
        "reminders": reminders,
        "chart": chart_html(page.progress),
        "now": now,
        "can_record_findings": can_record_findings,
        "changes": changes,
        "can_merge": roles.role_grants(request.user, "patients.merge_patient"),
        "can_see_photos": can_see_photos,
        "medical_changes": medical_changes(changes),
        "can_export": roles.role_grants(request.user, EXPORT_PERMISSION),
        "can_see_history": roles.role_grants(request.user, HISTORY_PERMISSION),
        "intake": intake,
        "intake_diff": patient_intake.diff_since_review(intake) if intake else None,
        "can_review_intake": roles.role_grants(request.user, patient_intake.REVIEW_PERMISSION),
    }
    # The content written in Python (patient_content); the context stays the reference
    # template's (tests/reference/patient_detail.html), which the tests render to compare.
    context["content"] = patient_content.content(context, token, here)
    return render(request, "staff/patient_detail.html", context)


def _prepare_rows(page, *, can_record_findings: bool, here: tuple[str, str, str]) -> None:
    """Each session's part of the timeline written once in Python (`s.item`), escaped as
    the template escaped it: the template spent most of the page's rendering there (a
    `{% blocktranslate %}`, two `get_…_display` and four `{% if %}` a follow-up). Links are
    reversed once (ui.rows) and the texts keep their "staff" msgids, translated once a page.
    Every value goes in through `esc` (ui.rows.escaper: conditional_escape, once per distinct
    value) and each item is marked safe once whole: format_html escaped each of its values
    anew, a third of this function's time."""
    words, esc = _timeline_words(here), escaper()
    session_link, baseline_link, record_link = words.links
    for s in page.sessions:
        s.url, s.baseline_url, s.when = session_link(s.pk), baseline_link(s.pk), session_at(s)
        follow_ups = []
        for f in s.follow_ups.all():
            f.record_url, f.due_label = record_link(f.pk), short_day(f.due_date)
            follow_ups.append(_follow_up_item(s, f, words, can_record_findings, esc))
        cancelled = ""
        if s.status == SessionStatus.CANCELLED:
            by = (
                "; " + staff_said(words.cancelled_by, full_name=_name(s.cancelled_by))
                if s.cancelled_by
                else ""
            )
            cancelled = _CANCELLED.format(esc(s.cancellation_reason), by)
        no_show = ""
        if s.status == SessionStatus.NO_SHOW and s.no_show_recorded_by:
            no_show = _MUTED.format(
                staff_said(words.no_show_by, full_name=_name(s.no_show_recorded_by))
            )
        vials = "".join(
            '<div class="small text-muted">{}</div>'.format(
                staff_said(
                    words.vials,
                    vials=v.vials,
                    product_name=v.lot.product_name,
                    lot_number=v.lot.lot_number,
                )
            )
            for v in s.vials_used.all()
        )
        s.item = mark_safe(  # noqa: S308 (every value escaped by esc or staff_said)
            _SESSION_ITEM.format(
                url=esc(s.url),
                when=esc(s.when),
                status=esc(words.session_statuses.get(s.status, s.status)),
                clinician=esc(_name(s.clinician)),
                room=esc(s.room.name),
                missing=words.missing if s.pk in page.missing_assessment else "",
                nsaid=words.nsaid if s.nsaid_review_pending and s.is_open else "",
                cancelled=cancelled,
                no_show=no_show,
                vials=vials,
                baseline=_BASELINE_LINK.format(esc(s.baseline_url), esc(words.baseline))
                if can_record_findings and s.status == SessionStatus.COMPLETED
                else "",
                follow_ups="".join(follow_ups),
            )
        )


_SESSION_ITEM = (
    '\n      <div class="timeline-item">\n'
    '        <div><a href="{url}"><strong>{when}</strong></a>\n'
    "          · {status} · {clinician} · {room}\n"
    "          {missing}\n"
    "          {nsaid}\n"
    "          {cancelled}\n"
    "          {no_show}\n"
    "        </div>\n"
    "        {vials}\n"
    "        {baseline}\n"
    '        <ul class="list-unstyled small mb-0 ms-2">\n'
    "        {follow_ups}\n"
    "        </ul>\n"
    "      </div>\n"
    "    "
)
_FOLLOW_UP_ITEM = (
    "\n          <li>{line}\n"
    "            {record}\n"
    "            {seen}\n"
    "            {recorded}\n"
    "            {amended}\n"
    "            {amend}\n"
    "            {density}{rating}\n"
    "          </li>\n"
    "        "
)
_FLAG = '<span class="badge text-bg-danger flag">{}</span>'
_MUTED = '<span class="small text-muted">{}</span>'
_CANCELLED = '<span class="small text-muted">({}{})</span>'
_BASELINE_LINK = '<div class="small ms-2"><a href="{}" class="baseline-link">{}</a></div>'
_LINK = '· <a href="{}">{}</a>'


def _labels(choices) -> dict[str, str]:
    return {value: str(label) for value, label in choices}


@lru_cache(maxsize=16)
def _timeline_words(where: tuple[str, str, str]) -> "_TimelineWords":
    """`where`: ui.nav.where(), the language the words are in."""
    return _TimelineWords()


class _TimelineWords:
    """The timeline's words in the reader's language, looked up once per language a
    process (`_timeline_words`): about twenty gettext lookups, each walking the catalogs."""

    def __init__(self):
        self.links = (
            link_maker("session_detail"),
            link_maker("session_baseline"),
            link_maker("follow_up_record"),
        )
        self.session_statuses = _labels(SessionStatus.choices)
        self.kinds, self.statuses = _labels(FollowUpKind.choices), _labels(FollowUpStatus.choices)
        self.missing = format_html(_FLAG, pgettext("staff", "previous 6-month assessment missing"))
        self.nsaid = format_html(_FLAG, pgettext("staff", "NSAID decision needed"))
        self.baseline = pgettext("staff", "Day-0 baseline (photos, measurements)")
        self.record, self.amend = pgettext("staff", "record"), pgettext("staff", "amend")
        self.amended = pgettext("staff", "amended (history)")

        self.cancelled_by = pgettext("staff", "cancelled by %(full_name)s")
        self.no_show_by = pgettext("staff", "(recorded by %(full_name)s)")
        self.vials = pgettext("staff", "%(vials)s × %(product_name)s lot %(lot_number)s")
        self.due = pgettext("staff", "%(kind)s: due %(due_date)s · %(status)s")
        self.seen_by = pgettext("staff", "seen by %(full_name)s")
        self.recorded_by = pgettext("staff", "recorded by %(full_name)s")
        self.density = pgettext("staff", "%(hair_density_per_cm2)s hairs/cm²")
        self.rating = pgettext("staff", "rating %(patient_rating)s/10")


def _name(user) -> str:
    """`{{ user.get_full_name|default:user.username }}`."""
    return user.get_full_name() or user.username


def _follow_up_item(s, f, words: _TimelineWords, can_record_findings: bool, esc) -> str:
    """One follow-up's line of the timeline, every value escaped by `esc` (not yet marked
    safe: part of its session's item)."""
    if f.kind == FollowUpKind.BASELINE:
        amend = _LINK.format(esc(s.baseline_url), esc(words.amend)) if can_record_findings else ""
    elif can_record_findings and f.status in (FollowUpStatus.DONE, FollowUpStatus.MISSED):
        amend = _LINK.format(esc(f.record_url), esc(words.amend))
    else:
        amend = ""
    return _FOLLOW_UP_ITEM.format(
        line=staff_said(
            words.due,
            kind=words.kinds.get(f.kind, f.kind),
            due_date=f.due_label,
            status=words.statuses.get(f.status, f.status),
        ),
        record=_LINK.format(esc(f.record_url), esc(words.record))
        if f.status == FollowUpStatus.PLANNED and s.status == SessionStatus.COMPLETED
        else "",
        seen="· " + staff_said(words.seen_by, full_name=_name(f.seen_by)) if f.seen_by else "",
        recorded="· " + staff_said(words.recorded_by, full_name=_name(f.recorded_by))
        if f.recorded_by and f.recorded_by_id != f.seen_by_id
        else "",
        amended=_LINK.format(esc(f"{f.record_url}#history"), esc(words.amended))
        if f.version > 1
        else "",
        amend=amend,
        density="· " + staff_said(words.density, hair_density_per_cm2=f.hair_density_per_cm2)
        if f.hair_density_per_cm2
        else "",
        rating=" · " + staff_said(words.rating, patient_rating=f.patient_rating)
        if f.patient_rating
        else "",
    )


_REMINDER_ROW = (
    "<tr><td>{due}</td><td>{kind}</td><td>{channel}</td>\n"
    '          <td><span class="badge text-bg-{badge}">{state}</span>{note}</td>\n'
    "          <td>{deliveries}</td>\n"
    "          <td>{resend}</td></tr>"
)
_REMINDER_NOTE = ' <span class="text-muted">{}</span>'
_REMINDER_BADGES = {
    ReminderState.FAILED: "danger",
    ReminderState.SENT: "success",
    ReminderState.PENDING: "primary",
}
_RESEND = (
    '<form method="post" action="{}">{}'
    '<button class="btn btn-sm btn-outline-danger">{}</button></form>'
)


@lru_cache(maxsize=16)
def _reminder_words(where: tuple[str, str, str]) -> tuple:
    """The reminders table's words in the reader's language and its resend link, once per
    language a process (`where`: ui.nav.where())."""
    return (
        link_maker("reminder_resend"),
        _labels(ReminderKind.choices),
        _labels(Channel.choices),
        _labels(ReminderState.choices),
        pgettext("staff", "ok"),
        pgettext("staff", "failed: %(error)s"),
        pgettext("staff", "Resend"),
    )


def _reminder_rows(reminders, token: str, here: tuple[str, str, str]) -> None:
    """Each reminder's table row once in Python (`r.row`), as the review's: the template
    spent about 100 µs a row on its cells (three `get_…_display` lookups, a
    `{% blocktranslate %}` per delivery attempt). The texts keep their "staff" msgids,
    translated once a page; every value goes in through `esc` (ui.rows.escaper) and each
    row is marked safe once whole."""
    resend_link, kinds, channels, states, ok, failed, resend = _reminder_words(here)
    esc = escaper()
    zone = timezone.get_current_timezone()  # as localtime finds it, once

    csrf = hidden_input(token)

    def attempt(d) -> str:
        outcome = esc(ok) if d.succeeded else staff_said(failed, error=Truncator(d.error).chars(40))
        return f"<div>{esc(day_month_time(d.attempted_at, zone))} {outcome}</div>"

    for r in reminders:
        deliveries = "".join(attempt(d) for d in r.deliveries)
        action = ""
        if r.state == ReminderState.FAILED:
            action = _RESEND.format(esc(resend_link(r.pk)), csrf, esc(resend))
        r.row = mark_safe(  # noqa: S308 (every value escaped by esc or staff_said)
            _REMINDER_ROW.format(
                due=esc(day_time(r.due_at, zone)),
                kind=esc(kinds.get(r.kind, r.kind)),
                channel=esc(channels.get(r.channel, r.channel)),
                badge=_REMINDER_BADGES.get(r.state, "secondary"),
                state=esc(states.get(r.state, r.state)),
                note=_REMINDER_NOTE.format(esc(Truncator(r.status_note).chars(60)))
                if r.status_note
                else "",
                deliveries=deliveries or "–",
                resend=action,
            )
        )


@permission_required(patient_intake.REVIEW_PERMISSION)
@require_POST
def intake_review(request, pk):
    """A clinician marks the newest intake version reviewed (from the patient's page)."""
    version = get_object_or_404(IntakeVersion, pk=pk)
    try:
        patient_intake.review_intake(version=version, reviewed_by=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request,
            pgettext("staff", "Intake version %(number)s marked reviewed.")
            % {"number": version.number},
        )
    return redirect("patient_detail", pk=version.patient_id)


@permission_required(EXPORT_PERMISSION)
def patient_export(request, pk):
    """Everything the clinic holds about the patient, as a page to read or print (the
    browser's "Save as PDF" gives the PDF); the JSON download is linked from it."""
    patient = get_object_or_404(Patient, pk=pk)
    note_read(request, patient_id=patient.pk, kind=AccessKind.SUBJECT_ACCESS)
    report = subject_access.subject_access_report(patient, photo_hashes=False)
    response = render(
        request,
        "staff/patient_export.html",
        {"patient": patient, "tables": subject_access.as_tables(report), "report": report},
    )
    response["Cache-Control"] = "no-store"
    return response


@permission_required(EXPORT_PERMISSION)
def patient_export_json(request, pk):
    """The same as a JSON file to hand over (with each photo file's SHA-256)."""
    patient = get_object_or_404(Patient, pk=pk)
    now, today = now_and_today()
    note_read(request, patient_id=patient.pk, kind=AccessKind.SUBJECT_ACCESS)
    report = subject_access.subject_access_report(patient, now=now)
    response = JsonResponse(report, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = (
        f'attachment; filename="patient-{patient.pk}-{today.isoformat()}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


@permission_required("patients.invite_patient")
@require_POST
def invite(request, patient_pk):
    patient = get_object_or_404(Patient, pk=patient_pk)
    try:
        invitation = invitations.invite_patient(patient=patient)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        if invitation.kind == "password_reset":
            messages.success(
                request,
                pgettext(
                    "staff",
                    "The patient's portal account is already active: a password reset link was "
                    "sent to %(address)s.",
                )
                % {"address": invitation.sent_to},
            )
        else:
            messages.success(
                request,
                pgettext("staff", "Invitation sent to %(address)s.")
                % {"address": invitation.sent_to},
            )
    return redirect("patient_detail", pk=patient.pk)


@permission_required("patients.merge_patient")
def patient_merge(request, pk):
    """Merge this duplicate record into the one kept (clinic admins): the sessions and
    requests move, the gap rule holds, this record stays, marked merged."""
    duplicate = get_object_or_404(Patient, pk=pk)
    form = MergeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = merge_patients(
                duplicate=duplicate, kept=form.cleaned_data["kept"], merged_by=request.user
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext(
                    "staff",
                    "Record no. %(duplicate)s is merged into this one: %(sessions)s "
                    "session(s), %(reports)s side-effect report(s) and %(requests)s "
                    "request(s) moved.",
                )
                % {
                    "duplicate": duplicate.pk,
                    "sessions": result.sessions,
                    "reports": result.reports,
                    "requests": result.requests,
                },
            )
            return redirect("patient_detail", pk=result.kept.pk)
    candidates = possible_duplicates(
        first_name=duplicate.first_name,
        last_name=duplicate.last_name,
        date_of_birth=duplicate.date_of_birth,
        exclude_pk=duplicate.pk,
    )
    return render(
        request,
        "staff/patient_merge.html",
        {"form": form, "patient": duplicate, "candidates": candidates},
    )
