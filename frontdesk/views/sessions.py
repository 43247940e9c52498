"""Booking a session, and what staff do with one: check in, no-show, complete, the NSAID
decision, move, cancel."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.decorators import permission_required
from audit.models import AccessKind
from audit.selectors import HISTORY_PERMISSION
from audit.web import note_read
from consents.selectors import missing_consents
from consents.services import DESK_PERMISSION
from frontdesk.forms import (
    FIELD_FOR_CODE,
    BookingForm,
    CancelForm,
    CompleteForm,
    NsaidDecisionForm,
    PreviewForm,
    RescheduleForm,
    SessionRecordForm,
    SlotPickForm,
)
from patients.models import Patient
from patients.selectors import patient_by_id
from sites.models import active_sites
from treatments import formatting, selectors, services, slots
from treatments.formatting import long_date
from treatments.models import SessionStatus, TreatmentSession
from ui.forms import add_service_error, read_options

from . import book_page
from .common import active_sites_read, now_and_today

# --- Booking ------------------------------------------------------------------------------


@permission_required("treatments.add_treatmentsession")
def session_book(request, patient_pk):
    patient = patient_by_id(patient_pk)
    if patient is None:
        raise Http404("No such patient.")
    now, today = now_and_today()
    # A slot picked from the list (a query): none on a plain GET or a POST.
    pick = SlotPickForm(request.GET, sites=active_sites()) if request.GET else None
    form = BookingForm(
        request.POST or None,
        initial=pick.picked() if pick else {},
        today=today,
        patient=patient,
        user=request.user,
    )
    free_slots = None
    # What the service read before a refusal (the protocol, the patient's sessions): the
    # page shown again reads neither anew.
    reads = services.BookingReads()
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)  # a refusal on a field takes it out of cleaned_data
        try:
            session = services.book_session(
                patient=patient,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                clinician=data["clinician"],
                room=data["room"],
                booked_by=request.user,
                nsaid_free_confirmed=data.get("nsaid_free_confirmed", False),
                nsaid_decision=data.get("nsaid_decision", ""),
                await_nsaid_decision=data.get("await_nsaid_decision", False),
                notes=data["notes"],
                booking_key=data["booking_key"],
                override_reason=form.chosen_override_reason(),
                now=now,  # the page's clock: the protocol it reads is the page's
                reads=reads,
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
            free_slots = _free_slot_hints(exc, data, now=now)
        except PermissionDenied as exc:
            form.add_error("nsaid_decision", str(exc))
        else:
            messages.success(
                request,
                pgettext("staff", "Session booked for %(day)s.")
                % {"day": long_date(session.local_date)},
            )
            return redirect("session_detail", pk=session.pk)
    # The patient's live sessions as the gap rule sees them: for the eligibility and the
    # next free slots alike (one read, with the protocol the finder needs; none after the
    # service's).
    booked = reads.booked
    if booked is None:
        booked, protocol = selectors.live_booked_days_and_protocol(patient.pk, day=today)
        reads.protocol = reads.protocol or protocol
    eligibility = selectors.eligibility_from_days(booked, today=today)
    site_list = active_sites_read.all()
    first_site = site_list[0] if site_list else None
    site = pick.site_or(first_site) if pick else first_site
    next_slots = []
    if site is not None:  # the next free slots from the first day the gap allows
        first = max(today, eligibility.earliest_day)
        next_slots = slots.free_slots(
            patient=patient,
            site=site,
            start_day=first,
            end_day=first + timedelta(days=NEXT_SLOTS_DAYS),
            now=now,
            limit=NEXT_SLOTS,
            booked=booked,
            protocol=reads.protocol,
        )
    read_options(form, "clinician", "room")  # one statement, not one each
    context = {
        "form": form,
        "patient": patient,
        "eligibility": eligibility,
        "free_slots": free_slots,
        "next_slots": _slot_rows(next_slots),
        "site": site,
        "sites": site_list,
    }
    context["title"], context["content"] = book_page.title_and_content(request, context)
    return render(request, "staff/session_book.html", context)


# The booking page lists this many free slots, looked for this many days from the first
# day the patient may have a session.
NEXT_SLOTS = 8
NEXT_SLOTS_DAYS = 31


def _slot_rows(next_slots: list[slots.Slot]) -> list[dict[str, str]]:
    """The listed slots as the page shows them: each one's text, its link filling the form
    and the link's label, made once here rather than per row in the template."""
    use = pgettext("staff", "Use this slot: %(text)s")
    rows = []
    for slot in next_slots:
        text = slot.text
        href = (
            f"?site={slot.site.pk}&day={slot.day_iso}&time={slot.time_hm}"
            f"&clinician={slot.clinician.pk}&room={slot.room.pk}#booking-form"
        )
        rows.append({"text": text, "href": href, "label": use % {"text": text}})
    return rows


class FreeTimes(list):
    """Start times ("09:15") on a site's clock; `text` names it: "09:00, 09:15 Istanbul
    time"."""

    def __init__(self, times, tz):
        super().__init__(times)
        self.city = formatting.place_name(tz)
        self.text = formatting.named_time(", ".join(times), tz)


def _free_slot_hints(exc: ValidationError, data: dict, *, now) -> FreeTimes | None:
    """When a clash is refused: the times that day (on the room's site's clock) when the
    chosen clinician and room are both free for the chosen length. None when the refusal is
    not a clash."""
    codes = set() if hasattr(exc, "error_dict") else {e.code for e in exc.error_list}
    if "slot_taken" not in codes:
        return None
    room = data["room"]  # the form's, read before the refusal took it out of the form
    tz = room.site.tz
    starts = selectors.free_slots(
        day=data["day"],
        length=data["ends_at"] - data["starts_at"],
        clinician_id=data["clinician"].pk,
        room_id=room.pk,
        site_tz=tz,
        now=now,
    )
    return FreeTimes([f"{start.astimezone(tz):%H:%M}" for start in starts], tz)


@permission_required("treatments.add_treatmentsession")
def session_preview(request, patient_pk):
    """What a chosen date would give, before submitting: the gap and the NSAID window."""
    patient = get_object_or_404(Patient, pk=patient_pk)
    now, today = now_and_today()
    query = PreviewForm(request.GET)
    day, at = query.day_and_time()
    preview = selectors.booking_preview(
        patient,
        day=day,
        at=at,
        site_tz=query.site_tz(),
        today=today,
        now=now,
    )
    result: dict[str, object] = {
        "earliest_allowed": preview.eligibility.earliest_day.isoformat(),
        "earliest_allowed_text": long_date(preview.eligibility.earliest_day),
        "reason": preview.eligibility.reason,
    }
    if preview.chosen:
        window = preview.chosen.nsaid_window
        result.update(
            gap_ok=preview.chosen.gap_ok,
            earliest_from_day=long_date(preview.chosen.earliest_from_day),
            nsaid_first=long_date(window.first_day),
            nsaid_last=long_date(window.last_day),
            nsaid_resume=long_date(window.resume_day),
            short_notice=preview.chosen.short_notice,
        )
    return JsonResponse(result)


# --- One session --------------------------------------------------------------------------


def _session(pk):
    return get_object_or_404(
        TreatmentSession.objects.select_related(
            "patient",
            "clinician",
            "room",
            "site",
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


@permission_required("treatments.view_treatmentsession")
def session_detail(request, pk):
    session = _session(pk)
    now, today = now_and_today()
    note_read(
        request, patient_id=session.patient_id, kind=AccessKind.SESSION_PAGE, object_id=session.pk
    )
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
            "status_words": selectors.status_words(session),
            "actions": selectors.session_actions(session, today=today, now=now),
            "complete_form": CompleteForm(session=session),
            "nsaid_decisions": session.nsaid_decisions.select_related("decided_by"),
            "cancel_form": CancelForm(),
            "can_complete": roles.role_grants(request.user, "treatments.complete_treatmentsession"),
            "can_decide": roles.role_grants(request.user, "treatments.record_nsaid_decision"),
            "can_amend": roles.role_grants(request.user, services.AMEND_RECORD_PERMISSION),
            "record_versions": selectors.session_record_versions(session),
            "can_see_history": roles.role_grants(request.user, HISTORY_PERMISSION),
            # Shown before the day, as completing would refuse it (`intake_required`).
            "intake_problem": services.session_intake_problem(session) if session.is_open else None,
            # What the patient has still to sign for this day: shown before the day.
            "missing_consents": (
                missing_consents(session.patient, session.local_date) if session.is_open else []
            ),
            "can_take_signature": roles.role_grants(request.user, DESK_PERMISSION),
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
        messages.error(request, str(exc) or pgettext("staff", "You may not do that."))
    else:
        messages.success(request, success)
    return redirect("session_detail", pk=session.pk)


@permission_required("treatments.change_treatmentsession")
@require_POST
def session_check_in(request, pk):
    session = _session(pk)
    return _act(
        request,
        session,
        lambda: services.check_in_session(session=session, checked_in_by=request.user),
        pgettext("staff", "Checked in."),
    )


@permission_required("treatments.change_treatmentsession")
def session_no_show(request, pk):
    """A no-show ends the session's follow-ups and cannot be undone: the button opens this
    confirmation page, and only its POST (with `confirmed`) marks it."""
    session = _session(pk)
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        return _act(
            request,
            session,
            lambda: services.mark_no_show(session=session, recorded_by=request.user),
            pgettext("staff", "Marked as a no-show."),
        )
    return render(request, "staff/session_no_show.html", {"session": session})


@permission_required("treatments.complete_treatmentsession")
def session_complete(request, pk):
    session = _session(pk)
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
            messages.success(
                request, pgettext("staff", "Session completed; its follow-ups are planned.")
            )
            return redirect("session_detail", pk=session.pk)
    return render(request, "staff/session_complete.html", {"session": session, "form": form})


@permission_required(services.AMEND_RECORD_PERMISSION)
def session_amend(request, pk):
    """Amend a completed session's record (clinicians, clinic admins): the form opens with
    what is recorded; the earlier version is kept and shown on the session's page."""
    session = _session(pk)
    if session.status != SessionStatus.COMPLETED:
        messages.error(
            request, pgettext("staff", "Only a completed session's record can be amended.")
        )
        return redirect("session_detail", pk=session.pk)
    vials = session.vials_used.select_related("lot").order_by("id")
    form = SessionRecordForm(request.POST or None, session=session, vials=vials)
    if request.method == "POST" and form.is_valid():
        try:
            services.amend_session_record(
                session=session,
                amended_by=request.user,
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
                notes=form.cleaned_data["notes"],
                side_effects=form.cleaned_data["side_effects"],
                vials=form.vials_used(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request, pgettext("staff", "Record amended; the earlier version is kept.")
            )
            return redirect("session_detail", pk=session.pk)
    return render(
        request,
        "staff/session_amend.html",
        {"session": session, "form": form, "vials": vials},
    )


def _session_form(
    request, session, form, *, action, success, title, button, done, danger=False, hints=None
):
    """A small form about one session: on a valid POST run `action(cleaned_data)`; a coded
    refusal goes next to its field and the input stays; success goes to `done`.
    `hints(refusal, data)`: what else to show after a refusal (e.g. free times)."""
    free_slots = None
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)  # a refusal on a field takes it out of cleaned_data
        try:
            action(data)
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
            free_slots = hints(exc, data) if hints else None
        else:
            messages.success(request, success)
            return redirect(*done)
    return render(
        request,
        "staff/simple_form.html",
        {
            "form": form,
            "title": title,
            "session": session,
            "button": button,
            "danger": danger,
            "free_slots": free_slots,
        },
    )


@permission_required("treatments.record_nsaid_decision")
def session_nsaid_decision(request, pk):
    session = _session(pk)
    revising = bool(session.nsaid_decided_at)
    return _session_form(
        request,
        session,
        NsaidDecisionForm(
            request.POST or None,
            revising=revising,
            initial={"decision": session.nsaid_decision} if revising else None,
        ),
        action=lambda data: services.record_nsaid_decision(
            session=session,
            decision=data["decision"],
            clinician=request.user,
            reason=data.get("reason", ""),
        ),
        success=pgettext("staff", "Decision revised; the earlier one is kept.")
        if revising
        else pgettext("staff", "Decision recorded."),
        title=pgettext("staff", "Revise the NSAID decision")
        if revising
        else pgettext("staff", "NSAID decision"),
        button=pgettext("staff", "Revise decision")
        if revising
        else pgettext("staff", "Record decision"),
        done=("session_detail", session.pk),
    )


@permission_required("treatments.change_treatmentsession")
def session_reschedule(request, pk):
    session = _session(pk)
    local_start = session.starts_at.astimezone(session.tz)  # the form reads the site's clock
    form = RescheduleForm(
        request.POST or None,
        today=now_and_today()[1],
        patient=session.patient,
        user=request.user,
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
            nsaid_free_confirmed=data.get("nsaid_free_confirmed", False),
            override_reason=form.chosen_override_reason(),
        ),
        success=pgettext("staff", "Session moved; its reminders and follow-ups moved too."),
        title=pgettext("staff", "Move session"),
        button=pgettext("staff", "Move"),
        done=("session_detail", session.pk),
        hints=lambda exc, data: _free_slot_hints(exc, data, now=timezone.now()),
    )


@permission_required("treatments.change_treatmentsession")
def session_cancel(request, pk):
    session = _session(pk)
    return _session_form(
        request,
        session,
        CancelForm(request.POST or None),
        action=lambda data: services.cancel_session(
            session=session, reason=data["reason"], cancelled_by=request.user
        ),
        success=pgettext("staff", "Session cancelled; the patient is told."),
        title=pgettext("staff", "Cancel session"),
        button=pgettext("staff", "Cancel session"),
        done=("patient_detail", session.patient_id),
        danger=True,
    )
