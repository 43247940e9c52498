"""State changes of patients. Keyword-only, one transaction, validated."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from treatments import reminders

from .models import Patient


def register_patient(
    *,
    first_name: str,
    last_name: str,
    date_of_birth,
    email: str,
    phone: str = "",
    time_zone: str | None = None,
    reminders_by_email: bool = True,
    reminders_by_sms: bool = False,
    contact_consent_at=None,
    non_essential_opt_out: bool = False,
    medications: str = "",
    takes_prescribed_nsaid: bool = False,
    prescribed_nsaid: str = "",
    allergies: str = "",
    notes: str = "",
) -> Patient:
    """Register a new patient. A second patient with the same email is refused."""
    patient = Patient(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        email=email.strip(),
        phone=phone.strip(),
        reminders_by_email=reminders_by_email,
        reminders_by_sms=reminders_by_sms,
        contact_consent_at=contact_consent_at,
        non_essential_opt_out=non_essential_opt_out,
        medications=medications,
        takes_prescribed_nsaid=takes_prescribed_nsaid,
        prescribed_nsaid=prescribed_nsaid.strip(),
        allergies=allergies,
        notes=notes,
    )
    if time_zone:
        patient.time_zone = time_zone
    _refuse_duplicate_email(patient)
    patient.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        if "patient_email_unique_ci" in str(exc):
            raise _duplicate_email_error(patient.email) from exc
        raise
    return patient


def _refuse_duplicate_email(patient: Patient) -> None:
    if Patient.objects.filter(email__iexact=patient.email).exclude(pk=patient.pk).exists():
        raise _duplicate_email_error(patient.email)


def _duplicate_email_error(email: str) -> ValidationError:
    return ValidationError(
        "A patient with the email %(email)s is already registered.",
        code="duplicate_email",
        params={"email": email},
    )


def update_reminder_preferences(
    *,
    patient: Patient,
    reminders_by_email: bool,
    reminders_by_sms: bool,
    non_essential_opt_out: bool,
    phone: str | None = None,
    time_zone: str | None = None,
    now=None,
) -> Patient:
    """Change how the patient is reminded; pending reminders follow at once."""
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        patient.reminders_by_email = reminders_by_email
        patient.reminders_by_sms = reminders_by_sms
        patient.non_essential_opt_out = non_essential_opt_out
        if phone is not None:
            patient.phone = phone.strip()
        if time_zone:
            patient.time_zone = time_zone
        patient.full_clean(validate_constraints=False)
        patient.save()
        reminders.plan_for_patient(patient, now=now)
    return patient
