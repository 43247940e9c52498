"""The front office: thin views that parse a form, call one service or selector, render."""

import csv
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.decorators import admin_required, staff_required
from patients.models import Patient
from ui.forms import add_service_error, page_number
from ui.pagination import window

from . import reminders, rules, selectors, services
from .formatting import long_date
from .forms import (
    FIELD_FOR_CODE,
    BookingForm,
    CancelForm,
    CompleteForm,
    FollowUpForm,
    MarkMissedForm,
    NsaidDecisionForm,
    PreviewForm,
    RescheduleForm,
    ReviewFilterForm,
    ScheduleForm,
)
from .models import (
    LIVE_STATUSES,
    FollowUp,
    FollowUpPhoto,
    ProtocolVersion,
    Reminder,
    Room,
    TreatmentSession,
)
from .photos import photo_response


def _now_and_today():
    now = timezone.now()
    return now, rules.local_day(now, services.clinic_tz())


# --- Schedule -----------------------------------------------------------------------------


@staff_required
def schedule(request):
    now, today = _now_and_today()
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


# --- Booking ------------------------------------------------------------------------------


@staff_required
def session_book(request, patient_pk):
    patient = get_object_or_404(Patient, pk=patient_pk)
    now, today = _now_and_today()
    form = BookingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session = services.book_session(
                patient=patient,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                clinician=data["clinician"],
                room=data["room"],
                booked_by=request.user,
                nsaid_free_confirmed=data["nsaid_free_confirmed"],
                nsaid_decision=data["nsaid_decision"],
                notes=data["notes"],
                booking_key=data["booking_key"],
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        except PermissionDenied as exc:
            form.add_error("nsaid_decision", str(exc))
        else:
            messages.success(request, f"Session booked for {long_date(session.local_date)}.")
            return redirect("session_detail", pk=session.pk)
    eligibility = selectors.next_session_eligibility(patient, today=today)
    return render(
        request,
        "staff/session_book.html",
        {"form": form, "patient": patient, "eligibility": eligibility},
    )


@staff_required
def session_preview(request, patient_pk):
    """What a chosen date would give, before submitting: the gap and the NSAID window."""
    patient = get_object_or_404(Patient, pk=patient_pk)
    now, today = _now_and_today()
    sessions = list(
        TreatmentSession.objects.filter(patient=patient, status__in=LIVE_STATUSES).only(
            "local_date", "gap_months", "status"
        )
    )
    eligibility = selectors.eligibility_from(sessions, today=today)
    result = {
        "earliest_allowed": eligibility.earliest_day.isoformat(),
        "earliest_allowed_text": long_date(eligibility.earliest_day),
        "reason": eligibility.reason,
    }
    query = PreviewForm(request.GET)
    if query.is_valid():
        day = query.cleaned_data["day"]
        at = query.cleaned_data["time"] or time(10, 0)
        terms = ProtocolVersion.objects.in_force_on(today).terms
        others = [s.as_booked_day() for s in sessions]
        starts = datetime.combine(day, at, tzinfo=services.clinic_tz())
        window = rules.nsaid_window(rules.local_day(starts, patient.tz), terms=terms)
        earliest = rules.earliest_allowed_day(day, gap_months=terms.gap_months, others=others)
        result.update(
            gap_ok=earliest == day,
            earliest_from_day=long_date(earliest),
            nsaid_first=long_date(window.first_day),
            nsaid_last=long_date(window.last_day),
            nsaid_resume=long_date(window.resume_day),
            short_notice=window.has_started(rules.local_day(now, patient.tz)),
        )
    return JsonResponse(result)


# --- One session --------------------------------------------------------------------------


def _session(pk):
    return get_object_or_404(
        TreatmentSession.objects.select_related(
            "patient",
            "clinician",
            "room",
            "protocol",
            "booked_by",
            "checked_in_by",
            "rescheduled_by",
            "cancelled_by",
            "no_show_recorded_by",
            "completed_by",
            "nsaid_decided_by",
        ),
        pk=pk,
    )


@staff_required
def session_detail(request, pk):
    session = _session(pk)
    now, today = _now_and_today()
    return render(
        request,
        "staff/session_detail.html",
        {
            "session": session,
            "window": session.nsaid_window(),
            "flags": selectors.session_flags(
                session,
                today=today,
                now=now,
                missing_assessment=selectors.previous_assessment_missing(session),
            ),
            "vials": session.vials_used.select_related("lot"),
            "complete_form": CompleteForm(session=session),
            "decision_form": NsaidDecisionForm(),
            "cancel_form": CancelForm(),
            "can_complete": request.user.has_perm("treatments.complete_treatmentsession"),
            "can_decide": request.user.has_perm("treatments.record_nsaid_decision"),
        },
    )


def _act(request, session, action, success):
    """Run a service for a POSTed action; refusals become messages on the session page."""
    try:
        action()
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "You may not do that.")
    else:
        messages.success(request, success)
    return redirect("session_detail", pk=session.pk)


@staff_required
@require_POST
def session_check_in(request, pk):
    session = _session(pk)
    return _act(
        request,
        session,
        lambda: services.check_in_session(session=session, checked_in_by=request.user),
        "Checked in.",
    )


@staff_required
@require_POST
def session_no_show(request, pk):
    session = _session(pk)
    return _act(
        request,
        session,
        lambda: services.mark_no_show(session=session, recorded_by=request.user),
        "Marked as a no-show.",
    )


@staff_required
def session_complete(request, pk):
    session = _session(pk)
    if not request.user.has_perm("treatments.complete_treatmentsession"):
        raise PermissionDenied
    form = CompleteForm(request.POST or None, session=session)
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_session(
                session=session,
                vials=form.vials_used(),
                completed_by=request.user,
                notes=form.cleaned_data["notes"],
                side_effects=form.cleaned_data["side_effects"],
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(request, "Session completed; its follow-ups are planned.")
            return redirect("session_detail", pk=session.pk)
    return render(request, "staff/session_complete.html", {"session": session, "form": form})


def _session_form(request, session, form, *, action, success, title, button, done, danger=False):
    """A small form about one session: on a valid POST run `action(cleaned_data)`; a coded
    refusal goes next to its field and the input stays; success goes to `done`."""
    if request.method == "POST" and form.is_valid():
        try:
            action(form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(request, success)
            return redirect(*done)
    return render(
        request,
        "staff/simple_form.html",
        {"form": form, "title": title, "session": session, "button": button, "danger": danger},
    )


@staff_required
def session_nsaid_decision(request, pk):
    session = _session(pk)
    if not request.user.has_perm("treatments.record_nsaid_decision"):
        raise PermissionDenied
    return _session_form(
        request,
        session,
        NsaidDecisionForm(request.POST or None),
        action=lambda data: services.record_nsaid_decision(
            session=session, decision=data["decision"], clinician=request.user
        ),
        success="Decision recorded.",
        title="NSAID decision",
        button="Record decision",
        done=("session_detail", session.pk),
    )


@staff_required
def session_reschedule(request, pk):
    session = _session(pk)
    local_start = timezone.localtime(session.starts_at, services.clinic_tz())
    form = RescheduleForm(
        request.POST or None,
        initial={
            "day": local_start.date(),
            "time": local_start.time(),
            "duration": int((session.ends_at - session.starts_at).total_seconds() // 60),
            "clinician": session.clinician_id,
            "room": session.room_id,
        },
    )
    return _session_form(
        request,
        session,
        form,
        action=lambda data: services.reschedule_session(
            session=session,
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            clinician=data["clinician"],
            room=data["room"],
            changed_by=request.user,
            nsaid_free_confirmed=data["nsaid_free_confirmed"],
        ),
        success="Session moved; its reminders and follow-ups moved too.",
        title="Move session",
        button="Move",
        done=("session_detail", session.pk),
    )


@staff_required
def session_cancel(request, pk):
    session = _session(pk)
    return _session_form(
        request,
        session,
        CancelForm(request.POST or None),
        action=lambda data: services.cancel_session(
            session=session, reason=data["reason"], cancelled_by=request.user
        ),
        success="Session cancelled; the patient is told.",
        title="Cancel session",
        button="Cancel session",
        done=("patient_detail", session.patient_id),
        danger=True,
    )


# --- Follow-ups ---------------------------------------------------------------------------


@staff_required
def follow_up_record(request, pk):
    """Record a follow-up, or amend a recorded one (clinicians). The front desk may only mark
    a planned follow-up missed."""
    follow_up = get_object_or_404(
        FollowUp.objects.select_related("session__patient", "session__protocol", "seen_by"), pk=pk
    )
    can_record_findings = request.user.has_perm(services.FINDINGS_PERMISSION)
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
                request, "Follow-up amended." if form.amending else "Follow-up recorded."
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


@staff_required
def follow_up_photo(request, pk):
    """A follow-up photo, to signed-in staff only (photos are never public media)."""
    return photo_response(get_object_or_404(FollowUpPhoto, pk=pk))


def _review_filters(request, today):
    form = ReviewFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status") or "overdue"
    qs = selectors.follow_up_review(
        today=today,
        status=status,
        kind=data.get("kind") or "",
        clinician_id=data["clinician"].pk if data.get("clinician") else None,
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
    )
    return form, status, qs


@admin_required
def follow_up_review(request):
    now, today = _now_and_today()
    form, status, qs = _review_filters(request, today)
    page = window(qs, page_number(request.GET), 50)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "staff/follow_up_review.html",
        {
            "form": form,
            "page": page,
            "status": status,
            "counts": selectors.follow_up_counts(today=today),
            "today": today,
            "page_query": query.urlencode(),
        },
    )


@admin_required
def follow_up_review_csv(request):
    now, today = _now_and_today()
    _, status, qs = _review_filters(request, today)
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
            "hair density",
            "rating",
        ]
    )
    for f in qs.iterator(chunk_size=1000):
        patient = f.session.patient
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
                f.hair_density_per_cm2 or "",
                f.patient_rating or "",
            ]
        )
    return response


# What a spreadsheet program runs as a formula when a cell starts with it (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula: such a cell gets a
    leading apostrophe (a phone "+49 170..." reads "'+49 170...", still readable); any
    other cell is written as it is."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


@admin_required
@require_POST
def follow_up_mark_missed(request):
    form = MarkMissedForm(request.POST)
    if form.is_valid():
        marked = services.mark_follow_ups_missed(
            follow_ups=form.cleaned_data["follow_up"], recorded_by=request.user
        )
        messages.success(request, f"{marked} follow-up(s) marked as missed.")
    else:
        messages.error(request, "Nothing was marked: choose follow-ups from the list.")
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


# --- Reminders ----------------------------------------------------------------------------


@admin_required
def failed_reminders(request):
    page = window(selectors.failed_reminders(), page_number(request.GET), 50)
    return render(request, "staff/failed_reminders.html", {"page": page})


@staff_required
@require_POST
def reminder_resend(request, pk):
    reminder = get_object_or_404(Reminder.objects.select_related("session"), pk=pk)
    try:
        reminders.resend(reminder, by=request.user.get_username())
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, "The reminder will be sent again within a minute.")
    return redirect("patient_detail", pk=reminder.session.patient_id)
