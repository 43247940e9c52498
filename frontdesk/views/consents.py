"""Signing at the front desk: the staff member hands the clinic's tablet to the patient, who
reads the text, types their name and ticks the statements; the staff member is recorded as
the witness. (A locked "hand the device over" mode, unlocked by the staff member again, is
not built yet: the page is a staff page, signed in as the staff member.)"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts.decorators import permission_required
from audit.middleware import client_ip
from consents import services as consent_services
from consents.forms import FIELD_FOR_CODE, SignForm
from consents.models import ConsentVersion
from patients.models import Patient
from ui.forms import add_service_error


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
            messages.success(request, f"{patient.full_name} signed the {version.document.title}.")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "staff/consent_desk_sign.html",
        {"patient": patient, "version": version, "form": form},
    )
