"""The patient's own pages. Every lookup is scoped to the signed-in patient: another
patient's session, follow-up or photo is a 404, whatever its id."""

import uuid
from functools import wraps
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import patient_required
from accounts.prepared import PreparedGet
from audit.middleware import client_ip
from audit.models import AccessKind
from audit.web import note_read
from consents import selectors as consent_selectors
from consents import services as consent_services
from consents.forms import FIELD_FOR_CODE as CONSENT_FIELD_FOR_CODE
from consents.forms import SignForm, WithdrawForm
from consents.models import Consent, ConsentVersion
from patients import intake as patient_intake
from patients import invitations
from patients.models import Patient
from patients.services import (
    new_calendar_token,
    revoke_calendar_token,
    update_reminder_preferences,
)
from sites.models import active_sites
from treatments import formatting, patient_requests, self_service
from treatments import selectors as treatment_selectors
from treatments import waitlist as waitlists
from treatments.models import (
    OPEN_STATUSES,
    BookingRequest,
    FollowUp,
    FollowUpPhoto,
    PhotoView,
    TreatmentSession,
    WaitlistOffer,
)
from treatments.photos import photo_response
from ui.charts import chart_html
from ui.forms import PhotoCompareForm, add_service_error, compare_context

from . import calendar, selectors
from . import home as home_parts
from .forms import (
    FIELD_FOR_CODE,
    ChangeRequestForm,
    IntakeForm,
    MedicationLineFormSet,
    OfferAnswerForm,
    PreferencesForm,
    SelfBookingQueryForm,
    SideEffectForm,
    SlotChoiceForm,
    WaitlistJoinForm,
)
from .language import remember as remember_language

# The signed-in patient's record, read on every portal page: compiled once a process
# (accounts.prepared), as `Patient.objects.filter(user=...).first()` reads it.
_patient_of_user = PreparedGet(
    lambda user_id: Patient.objects.filter(user_id=user_id).order_by("pk")
)


def patient_view(view):
    """A patient's page: signed in as a patient, their record passed in, and every time on
    the page shown on the patient's own clock. Each page the patient reads is in the
    record's access log (one INSERT; a refused lookup, a 404, logs nothing). The page is in
    the patient's own language (Patient.language), whatever the browser asks for."""

    @patient_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        patient = _patient_of_user.get(request.user.pk)
        if patient is None:
            raise PermissionDenied("This account is not linked to a patient record.")
        remember_language(request, patient.language)
        with timezone.override(patient.tz), translation.override(patient.language):
            response = view(request, patient, *args, **kwargs)
        response.headers.setdefault("Content-Language", patient.language)
        if request.method in ("GET", "HEAD") and response.status_code < 400:
            note_read(
                request, patient_id=patient.pk, kind=AccessKind.PORTAL, object_id=kwargs.get("pk")
            )
        return response

    return wrapper


@patient_view
def home(request, patient):
    now = timezone.now()
    requested, answered = patient_requests.open_and_answered(patient)
    page = selectors.home(patient, now=now, requested=requested)
    prep = page.prep
    self_change = prep is not None and self_service.may_change_itself(prep.session, now=now)
    return render(
        request,
        "portal/home.html",
        {
            "patient": patient,
            "page": page,
            # Only asked while bookings need approval: the home page's queries stay as they were.
            "booking_request": self_service.open_request(patient)
            if self_service.needs_approval()
            else None,
            "self_change": self_change,
            "answered": answered,
            "session_card": prep
            and home_parts.session_card(
                patient, prep, requested=page.requested, self_change=self_change
            ),
            "follow_up_card": page.next_follow_up
            and home_parts.follow_up_card(page.next_follow_up),
        },
    )


@patient_view
def aftercare(request, patient):
    page = selectors.home(patient, now=timezone.now())
    form = SideEffectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        patient_requests.report_side_effect(
            patient=patient, description=form.cleaned_data["description"]
        )
        messages.success(request, _("Thank you. The clinic has your message and will contact you."))
        return redirect("portal_aftercare")
    return render(
        request, "portal/aftercare.html", {"patient": patient, "page": page, "form": form}
    )


@patient_view
def follow_ups(request, patient):
    page = selectors.follow_ups(patient, now=timezone.now())
    return render(
        request,
        "portal/follow_ups.html",
        {"patient": patient, "page": page, "chart": chart_html(page.shared)},
    )


@patient_view
def photo(request, patient, pk):
    if not consent_selectors.has_photo_consent(patient):  # withdrawn: no longer shown
        raise Http404("No photo consent.")
    shared = get_object_or_404(
        FollowUpPhoto,
        pk=pk,
        follow_up__session__patient=patient,
        follow_up__shared_with_patient=True,
    )
    return photo_response(shared)


def _ics_response(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.ics"'
    return response


@patient_view
def session_ics(request, patient, pk):
    session = get_object_or_404(
        TreatmentSession.objects.select_related("protocol", "site"), pk=pk, patient=patient
    )
    session.patient = patient
    event = calendar.session_event(session, session.nsaid_window())
    return _ics_response(calendar.ics([event]), f"session-{session.local_date}")


@patient_view
def follow_up_ics(request, patient, pk):
    follow_up = get_object_or_404(
        FollowUp.objects.select_related("session__site"), pk=pk, session__patient=patient
    )
    return _ics_response(
        calendar.ics([calendar.follow_up_event(follow_up)]), f"follow-up-{follow_up.due_date}"
    )


def calendar_feed(request, token):
    """The patient's private feed for calendar apps: the secret in the URL is the key."""
    patient = get_object_or_404(Patient, calendar_token=token)
    sessions, planned = selectors.calendar_items(patient)
    with translation.override(patient.language):
        events = [calendar.session_event(s, s.nsaid_window()) for s in sessions]
        events += [calendar.follow_up_event(f) for f in planned]
    response = HttpResponse(calendar.ics(events), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@patient_view
def preferences(request, patient):
    form = PreferencesForm(
        request.POST or None,
        initial={
            "reminders_by_email": patient.reminders_by_email,
            "reminders_by_sms": patient.reminders_by_sms,
            "phone": patient.phone,
            "country": patient.country,
            "time_zone": patient.time_zone,
            "non_essential_opt_out": patient.non_essential_opt_out,
            "language": patient.language,
        },
        current_time_zone=patient.time_zone,
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_reminder_preferences(patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            patient.refresh_from_db(fields=["language"])
            remember_language(request, patient.language)
            with translation.override(patient.language):
                # In the language just chosen: the next page is in it too.
                messages.success(request, _("Saved. Your reminders follow your new choices."))
            return redirect("portal_preferences")
    feed_url = (
        request.build_absolute_uri(f"/portal/calendar/{patient.calendar_token}.ics")
        if patient.calendar_token
        else None
    )
    return render(
        request,
        "portal/preferences.html",
        {"patient": patient, "form": form, "feed_url": feed_url},
    )


@patient_view
@require_POST
def calendar_token(request, patient):
    if request.POST.get("action") == "revoke":
        revoke_calendar_token(patient=patient)
        messages.success(request, _("The calendar link no longer works."))
    else:
        new_calendar_token(patient=patient)
        messages.success(
            request, _("Your private calendar link is ready (any older one stops working).")
        )
    return redirect("portal_preferences")


@patient_view
def request_change(request, patient, pk):
    session = get_object_or_404(
        TreatmentSession.objects.select_related("site"), pk=pk, patient=patient
    )
    form = ChangeRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient_requests.request_change(patient=patient, session=session, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(request, _("Thank you. The clinic will contact you about it."))
            return redirect("portal_home")
    return render(
        request, "portal/request.html", {"form": form, "session": session, "patient": patient}
    )


class WelcomeView(PasswordResetConfirmView):
    """The invitation link: choose a password (once, before the link expires), then sign in.

    Django's own password-reset confirmation does the work: the token is checked, kept in the
    session and taken out of the URL after the first request (so it leaks into no Referer or
    history), and it stops working once the password is set. On top: it serves only a
    patient's own login, never a staff member's or another patient's.
    """

    token_generator = invitations.invite_tokens
    template_name = "portal/welcome.html"
    reset_url_token = "set-password"  # noqa: S105 - the URL word standing in for the token
    post_reset_login = True
    post_reset_login_backend = "accounts.backends.ClinicModelBackend"
    success_url = reverse_lazy("portal_home")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is not None:
            try:  # however the link was made, it never sets a staff member's or another's password
                invitations.refuse_unless_patient_login(user, None)
            except ValidationError:
                return None
            # The invited patient's own language, whatever the browser asks for.
            language = Patient.objects.filter(user=user).values_list("language", flat=True)
            if language := next(iter(language), None):
                translation.activate(language)
                self.request.LANGUAGE_CODE = language
        return user

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        # A valid first request is a redirect to the token-free URL; anything else unvalidated
        # is a bad or used link.
        if not self.validlink and response.status_code != 302:
            return render(self.request, "portal/welcome_invalid.html", status=400)
        return response

    def form_valid(self, form):
        messages.success(self.request, _("Welcome! Your password is set."))
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        return super().get_context_data(invited=self.user, **kwargs)


welcome = WelcomeView.as_view()


@patient_view
def compare(request, patient):
    """Before/after of the patient's own shared photos only (another patient's visit, or one
    not shared, is never a choice)."""
    visits = treatment_selectors.photo_visits(patient, shared_only=True)
    form = PhotoCompareForm(request.GET or None, visits=visits, views=PhotoView.choices)
    view, view_label, before, after = form.chosen()
    return render(
        request,
        "portal/photo_compare.html",
        {
            "patient": patient,
            **compare_context(form, view, view_label, before, after),
            "photo_url": "portal_photo",
        },
    )


# Empty medication lines offered below the ones typed.
BLANK_LINES = 2
_LINE_FIELDS = ("name", "dose", "since")


@patient_view
def intake(request, patient):
    """The intake questionnaire, filled in from the newest version. "Add a line" re-shows the
    page with everything typed and one more empty line (no script needed), saving nothing."""
    newest = patient_intake.newest_version(patient)
    if request.method == "POST" and "add_line" in request.POST:
        posted = MedicationLineFormSet(request.POST, prefix="lines")
        lines = [
            {name: form[name].value() or "" for name in (*_LINE_FIELDS, "DELETE")}
            for form in posted.forms
        ]
        form = IntakeForm(initial=request.POST.dict())
        formset = MedicationLineFormSet(prefix="lines", initial=[*lines, {}])
    elif request.method == "POST":
        form = IntakeForm(request.POST)
        formset = MedicationLineFormSet(request.POST, prefix="lines")
        if form.is_valid() and formset.is_valid():
            try:
                patient_intake.submit_intake(
                    patient=patient,
                    submitted_by=request.user,
                    answers=form.cleaned_data,
                    medications=formset.lines(),
                )
            except ValidationError as exc:
                add_service_error(form, exc, field_for_code={})
            else:
                messages.success(
                    request, _("Thank you. A clinician will read your answers before your session.")
                )
                return redirect("portal_intake")
    else:
        initial = {}
        lines: list[dict] = []
        if newest is not None:
            initial = {name: getattr(newest, name) for name in form_fields()}
            lines = [
                {name: getattr(m, name) for name in _LINE_FIELDS} for m in newest.medications.all()
            ]
        form = IntakeForm(initial=initial)
        formset = MedicationLineFormSet(prefix="lines", initial=[*lines, *[{}] * BLANK_LINES])
    return render(
        request,
        "portal/intake.html",
        {
            "patient": patient,
            "form": form,
            "formset": formset,
            "newest": newest,
        },
    )


def form_fields() -> tuple[str, ...]:
    return tuple(IntakeForm.base_fields)


@patient_view
@require_POST
def intake_confirm(request, patient):
    """ "Nothing changed": the patient confirms their newest answers before a later session."""
    try:
        patient_intake.reconfirm_intake(patient=patient, confirmed_by=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Thank you: your answers are confirmed as they are."))
    return redirect("portal_intake")


# --- Consents -----------------------------------------------------------------------------


@patient_view
def consents(request, patient):
    overview = consent_selectors.patient_overview(patient, timezone.localdate())
    return render(request, "portal/consents.html", {"patient": patient, "overview": overview})


@patient_view
def consent_sign(request, patient, pk):
    version = get_object_or_404(
        ConsentVersion.objects.select_related("document"), pk=pk, published_at__isnull=False
    )
    form = SignForm(request.POST or None, version=version)
    if request.method == "POST" and form.is_valid():
        try:
            consent = consent_services.sign_consent(
                patient=patient,
                version=version,
                typed_name=form.cleaned_data["typed_name"],
                statements=form.ticked(),
                shown_sha256=form.cleaned_data["shown_sha256"],
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                now=timezone.now(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=CONSENT_FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                _("Thank you. You signed the %(title)s.") % {"title": version.document.title},
            )
            return redirect("portal_consent", pk=consent.pk)
    return render(
        request, "portal/consent_sign.html", {"patient": patient, "version": version, "form": form}
    )


@patient_view
def consent(request, patient, pk):
    signed = get_object_or_404(
        Consent.objects.select_related("version__document", "witnessed_by"),
        pk=pk,
        patient=patient,
    )
    return render(request, "portal/consent.html", {"patient": patient, "consent": signed})


@patient_view
def consent_withdraw(request, patient, pk):
    signed = get_object_or_404(
        Consent.objects.select_related("version__document"),
        pk=pk,
        patient=patient,
        withdrawn_at__isnull=True,
    )
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.withdraw_consent(
                consent=signed,
                withdrawn_by=request.user,
                reason=form.cleaned_data["reason"],
                now=timezone.now(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=CONSENT_FIELD_FOR_CODE)
        else:
            messages.success(request, _("Your consent is withdrawn; the clinic sees it now."))
            return redirect("portal_consents")
    return render(
        request,
        "portal/consent_withdraw.html",
        {"patient": patient, "consent": signed, "form": form},
    )


# --- Self-booking -------------------------------------------------------------------------


def _own_open_sessions(patient):
    return TreatmentSession.objects.filter(patient=patient, status__in=OPEN_STATUSES)


@patient_view
def book(request, patient):
    """The free slots the finder offers this patient, a week at a time; one picked is booked
    (or, with `move`, the patient's own session is moved there)."""
    now = timezone.now()
    sites = active_sites()
    site_list = list(sites)
    weeks = settings.SELF_BOOKING_WEEKS
    sessions = _own_open_sessions(patient)
    data = request.POST if request.method == "POST" else request.GET
    query = SelfBookingQueryForm(data or None, sites=sites, sessions=sessions, weeks=weeks)
    moving = query.value("move")
    if moving is not None and not self_service.may_change_itself(moving, now=now):
        return redirect("portal_request_change", pk=moving.pk)
    site = query.value("site", site_list[0] if site_list else None)
    if moving is not None:
        site = next((s for s in site_list if s.pk == moving.site_id), site)
    if request.method == "POST":
        choice = SlotChoiceForm(request.POST, sites=sites, sessions=sessions)
        if choice.is_valid():
            picked = choice.cleaned_data
            try:
                if picked["move"] is not None:
                    session = self_service.move_own_session(
                        patient=patient,
                        session=picked["move"],
                        starts_at=picked["starts_at"],
                        now=now,
                    )
                    done = _("Your session is moved to %(when)s.")
                else:
                    session = self_service.book_own_session(
                        patient=patient,
                        site=picked["site"],
                        starts_at=picked["starts_at"],
                        booking_key=picked["booking_key"],
                        now=now,
                    )
                    done = _("Your session is booked for %(when)s.")
                    if isinstance(session, BookingRequest):
                        messages.success(
                            request,
                            _(
                                "Thank you: your request is sent. The clinic will confirm the "
                                "time or contact you."
                            ),
                        )
                        return redirect("portal_home")
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                site = picked["site"]
            else:
                when = formatting.clinic_when(
                    session.starts_at, session.site.tz, ZoneInfo(patient.time_zone or "UTC")
                )
                messages.success(request, done % {"when": when})
                return redirect("portal_home")
        else:
            messages.error(request, _("Please choose one of the times below."))
    week = query.value("week", 0)
    page = (
        selectors.bookable_week(patient, site=site, week=week, now=now, moving=moving)
        if site is not None
        else None
    )
    return render(
        request,
        "portal/book.html",
        {
            "patient": patient,
            "page": page,
            "site": site,
            "sites": site_list,
            "query": query,
            "week": week,
            "weeks": weeks,
            "moving": moving,
            "booking_key": uuid.uuid4(),
            "needs_approval": self_service.needs_approval() and moving is None,
        },
    )


@patient_view
def cancel_own(request, patient, pk):
    session = get_object_or_404(
        TreatmentSession.objects.select_related("site"), pk=pk, patient=patient
    )
    now = timezone.now()
    if not self_service.may_change_itself(session, now=now):
        return redirect("portal_request_change", pk=session.pk)
    if request.method == "POST":
        try:
            self_service.cancel_own_session(patient=patient, session=session, now=now)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Your session is cancelled."))
        return redirect("portal_home")
    return render(request, "portal/cancel.html", {"patient": patient, "session": session})


# --- The waitlist -------------------------------------------------------------------------


@patient_view
def waitlist(request, patient):
    """Ask for an earlier date than the first free one: join the waitlist at a site (with,
    if the patient likes, the last day they would take); see the open offers; leave."""
    now = timezone.now()
    sites = active_sites()
    site_list = list(sites)
    query = SelfBookingQueryForm(
        request.GET or None, sites=sites, sessions=TreatmentSession.objects.none(), weeks=1
    )
    site = query.value("site", site_list[0] if site_list else None)
    form = WaitlistJoinForm(
        request.POST if request.method == "POST" else None, sites=sites, initial={"site": site}
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            waitlists.join_waitlist(
                patient=patient,
                site=form.cleaned_data["site"],
                not_after=form.cleaned_data["not_after"],
                now=now,
            )
        except ValidationError as exc:
            if "invalid_not_after" in _codes(exc):
                form.add_error("not_after", exc)
            else:  # already waiting, or a session booked: the page shows which
                messages.error(request, " ".join(exc.messages))
                status = 400
        else:
            messages.success(
                request,
                _(
                    "You are on the waitlist. When an earlier time becomes free that suits you, "
                    "we send you a message with a link to accept it."
                ),
            )
            return redirect("portal_waitlist")
    page = selectors.waitlist_page(patient, site=site, now=now)
    if form.errors:
        status = 400
    return render(
        request,
        "portal/waitlist.html",
        {
            "patient": patient,
            "page": page,
            "form": form,
            "site": page.entry.site if page.entry else site,
            "sites": site_list,
            "first_free_when": _site_when(page.first_free.starts_at, page.first_free.site, patient)
            if page.first_free
            else "",
            "offers": [(o, _offer_texts(o, patient)) for o in page.offers],
        },
        status=status,
    )


@patient_view
@require_POST
def waitlist_leave(request, patient):
    if waitlists.leave_waitlist(patient=patient) is not None:
        messages.success(request, _("You are no longer on the waitlist."))
    return redirect("portal_waitlist")


@patient_view
def waitlist_offer(request, patient, pk):
    """A time offered from the waitlist: accept it (booked at once, if it is still free) or
    decline it (it goes to the next patient; the patient stays on the waitlist)."""
    offer = get_object_or_404(
        WaitlistOffer.objects.select_related("freed_slot__site"), pk=pk, patient=patient
    )
    now = timezone.now()
    next_slots: list = []
    status = 200
    if request.method == "POST":
        answer = OfferAnswerForm(request.POST)
        if not answer.is_valid():
            messages.error(request, _("Please use one of the buttons below."))
            status = 400
        elif answer.cleaned_data["answer"] == "decline":
            waitlists.decline_offer(patient=patient, offer=offer, now=now)
            messages.success(
                request, _("You declined this time. You stay on the waitlist for another one.")
            )
            return redirect("portal_waitlist")
        else:
            try:
                session = waitlists.accept_offer(patient=patient, offer=offer, now=now)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                if "slot_gone" in _codes(exc):
                    next_slots = selectors.next_free_slots(
                        patient, site=offer.freed_slot.site, now=now
                    )
                offer.refresh_from_db()
                status = 409
            else:
                messages.success(
                    request,
                    _("Your session is booked for %(when)s.")
                    % {"when": _site_when(session.starts_at, session.site, patient)},
                )
                return redirect("portal_home")
    return render(
        request,
        "portal/waitlist_offer.html",
        {
            "patient": patient,
            "offer": offer,
            "texts": _offer_texts(offer, patient),
            "is_open": waitlists.is_open(offer, now=now),
            "next_slots": [
                (slot, _site_when(slot.starts_at, slot.site, patient)) for slot in next_slots
            ],
        },
        status=status,
    )


def _site_when(instant, site, patient) -> str:
    """An appointment on its site's clock, named; the patient's own time second."""
    return formatting.clinic_when(instant, site.tz, ZoneInfo(patient.time_zone or "UTC"))


def _offer_texts(offer, patient) -> dict:
    site = offer.freed_slot.site
    return {
        "when": _site_when(offer.freed_slot.starts_at, site, patient),
        "answer_by": _site_when(offer.expires_at, site, patient),
        "site": site,
    }


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors if e.code}
    return {e.code for e in exc.error_list if e.code}
