"""Signing at the front desk: the staff member hands the clinic's tablet to the patient, who
reads the text, types their name and ticks the statements; the staff member is recorded as
the witness.

"Hand the device to the patient" locks the session to one signing page (patient, consent
version, witness, kept in the session; frontdesk.middleware redirects every other page back
to it) that shows the consent and nothing else; the staff member unlocks it again with their
own password. DESK_UNLOCK_ATTEMPTS wrong passwords sign the session out (the sign-in page and
its throttles take over from there).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import pgettext, pgettext_lazy
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.decorators import permission_required
from audit.middleware import client_ip
from consents import selectors as consent_selectors
from consents import services as consent_services
from consents.forms import FIELD_FOR_CODE, SignForm, WithdrawForm
from consents.models import Consent, ConsentVersion
from frontdesk.middleware import LOCK_KEY, lock_of
from patients.models import Patient
from ui.forms import add_service_error

from .common import now_and_today


@permission_required(consent_services.DESK_PERMISSION)
def desk_sign(request, patient_pk, pk):
    patient = get_object_or_404(Patient, pk=patient_pk, merged_into__isnull=True)
    version = get_object_or_404(
        ConsentVersion.objects.select_related("document"), pk=pk, published_at__isnull=False
    )
    form = SignForm(request.POST or None, version=version)
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.sign_consent(
                patient=patient,
                version=version,
                typed_name=form.cleaned_data["typed_name"],
                statements=form.ticked(),
                shown_sha256=form.cleaned_data["shown_sha256"],
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                witnessed_by=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "%(patient)s signed the %(document)s.")
                % {"patient": patient.full_name, "document": version.document.title},
            )
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "staff/consent_desk_sign.html",
        {"patient": patient, "version": version, "form": form},
    )


DESK_UNLOCK_ATTEMPTS = 5


class UnlockForm(forms.Form):
    password = forms.CharField(
        label=pgettext_lazy("staff", "Staff password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


def _signable(patient_pk, pk):
    patient = get_object_or_404(Patient, pk=patient_pk, merged_into__isnull=True)
    version = get_object_or_404(
        ConsentVersion.objects.select_related("document"), pk=pk, published_at__isnull=False
    )
    return patient, version


@require_POST
@permission_required(consent_services.DESK_PERMISSION)
def hand_over(request, patient_pk, pk):
    """Lock this session to the patient's signing page, the staff member as the witness."""
    patient, version = _signable(patient_pk, pk)
    request.session[LOCK_KEY] = {
        "patient": patient.pk,
        "version": version.pk,
        "witness": request.user.pk,
        "signed": False,
        "failures": 0,
    }
    return redirect("desk_patient_signing")


def _locked(lock):
    """The lock's patient and version. Neither is ever deleted (PROTECT, published versions
    read-only), so the locked page never falls to a 404 page with the staff navigation."""
    return (
        Patient.objects.get(pk=lock["patient"]),
        ConsentVersion.objects.select_related("document").get(pk=lock["version"]),
    )


def _locked_page(request, lock, *, form=None, unlock_form=None):
    patient, version = _locked(lock)
    return render(
        request,
        "staff/consent_desk_locked.html",
        {
            "patient_name": patient.full_name,
            "version": version,
            "form": form if form is not None else SignForm(version=version),
            "signed": lock["signed"],
            "unlock_form": unlock_form or UnlockForm(),
            "desk_locked": True,
        },
    )


def desk_patient_signing(request):
    """The locked page: the consent text, the name, the statements and Sign; after signing,
    "please hand the device back" and the staff member's unlock form."""
    lock = lock_of(request)
    if lock is None:
        return redirect("home")
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method != "POST" or lock["signed"]:
        return _locked_page(request, lock)
    patient, version = _locked(lock)
    form = SignForm(request.POST, version=version)
    if form.is_valid():
        try:
            consent_services.sign_consent(
                patient=patient,
                version=version,
                typed_name=form.cleaned_data["typed_name"],
                statements=form.ticked(),
                shown_sha256=form.cleaned_data["shown_sha256"],
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                witnessed_by=request.user,  # the lock binds the session to its witness
                now=timezone.now(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            lock["signed"] = True
            request.session[LOCK_KEY] = lock
            return redirect("desk_patient_signing")
    return _locked_page(request, lock, form=form)


@require_POST
def desk_unlock(request):
    """The staff member who handed the device over gives their password to have it back."""
    lock = lock_of(request)
    if lock is None:
        return redirect("home")
    form = UnlockForm(request.POST)
    if form.is_valid() and request.user.check_password(form.cleaned_data["password"]):
        del request.session[LOCK_KEY]
        patient_pk = lock["patient"]
        if lock["signed"]:
            messages.success(
                request, pgettext("staff", "The patient signed; the device is yours again.")
            )
        else:
            messages.info(request, pgettext("staff", "Unlocked; the patient did not sign."))
        return redirect("patient_detail", pk=patient_pk)
    lock["failures"] = lock.get("failures", 0) + 1
    if lock["failures"] >= DESK_UNLOCK_ATTEMPTS:
        logout(request)  # ends the lock; signing in again is throttled as ever
        return redirect_to_login("/")
    request.session[LOCK_KEY] = lock
    if form.is_valid():
        form.add_error("password", pgettext("staff", "That is not your password."))
    return _locked_page(request, lock, unlock_form=form)


# --- A patient's signatures, and a withdrawal at the desk ---------------------------------


@permission_required("patients.view_patient")
def patient_consents(request, pk):
    """Every signature of the patient (withdrawn ones too) and what is still to sign today."""
    patient = get_object_or_404(Patient, pk=pk)
    _, today = now_and_today()
    overview = consent_selectors.patient_overview(patient, today)
    return render(
        request,
        "staff/patient_consents.html",
        {
            "patient": patient,
            "overview": overview,
            "can_take_signature": roles.role_grants(request.user, consent_services.DESK_PERMISSION),
            "can_withdraw": roles.role_grants(request.user, consent_services.WITHDRAW_PERMISSION),
        },
    )


@permission_required(consent_services.WITHDRAW_PERMISSION)
def desk_withdraw(request, patient_pk, pk):
    """The patient tells the desk they withdraw a consent: recorded with the reason, by the
    staff member."""
    signed = get_object_or_404(
        Consent.objects.select_related("version__document", "patient"), pk=pk, patient_id=patient_pk
    )
    form = WithdrawForm(request.POST or None)
    form.fields["reason"].label = pgettext("staff", "Why does the patient withdraw this consent?")
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.withdraw_consent(
                consent=signed,
                withdrawn_by=request.user,
                reason=form.cleaned_data["reason"],
                now=timezone.now(),
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(
                request,
                pgettext("staff", "%(patient)s's %(document)s is withdrawn.")
                % {"patient": signed.patient.full_name, "document": signed.version.document.title},
            )
            return redirect("patient_consents", pk=patient_pk)
    return render(
        request,
        "staff/consent_withdraw.html",
        {"patient": signed.patient, "consent": signed, "form": form},
    )
