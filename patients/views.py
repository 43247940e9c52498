from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import roles
from accounts.decorators import staff_required
from treatments import rules
from treatments.charts import progress_chart
from treatments.selectors import patient_page
from treatments.services import clinic_tz
from ui.forms import add_service_error, page_number
from ui.pagination import window

from .forms import FIELD_FOR_CODE, PatientForm, PatientSearchForm
from .models import Patient
from .selectors import search_patients
from .services import register_patient


@staff_required
def patient_list(request):
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    patients = search_patients(query)
    page = window(patients, page_number(request.GET), 25)
    return render(
        request,
        "staff/patient_list.html",
        {
            "page": page,
            "query": query,
            "form": form,
            "page_query": urlencode({"q": query}) if query else "",
        },
    )


@staff_required
def patient_create(request):
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        consent = data.pop("contact_consent")
        try:
            patient = register_patient(
                **data, contact_consent_at=timezone.now() if consent else None
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_for_code=FIELD_FOR_CODE)
        else:
            messages.success(request, f"{patient.full_name} is registered.")
            return redirect("patient_detail", pk=patient.pk)
    return render(request, "staff/patient_form.html", {"form": form})


@staff_required
def patient_detail(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    now = timezone.now()
    page = patient_page(patient, today=rules.local_day(now, clinic_tz()), now=now)
    return render(
        request,
        "staff/patient_detail.html",
        {
            "page": page,
            "patient": patient,
            "chart": progress_chart(page.progress),
            "now": now,
            "can_record_findings": roles.role_grants(request.user, "treatments.record_findings"),
        },
    )
