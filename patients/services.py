"""State changes of patients. Keyword-only, one transaction, validated."""

import secrets
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pghistory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import signals
from .models import Patient, PatientChange
from .selectors import possible_duplicates


def register_patient(
    *,
    first_name: str,
    last_name: str,
    date_of_birth,
    email: str,
    phone: str = "",
    country: str = "",
    time_zone: str | None = None,
    language: str = "en",
    reminders_by_email: bool = True,
    reminders_by_sms: bool = False,
    contact_consent_at=None,
    non_essential_opt_out: bool = False,
    medications: str = "",
    takes_prescribed_nsaid: bool = False,
    prescribed_nsaid: str = "",
    allergies: str = "",
    notes: str = "",
    confirmed_not_duplicate: bool = False,
) -> Patient:
    """Register a new patient. A second patient with the same email is refused.

    A patient with the same name and date of birth is most likely the same person: a second
    record would let the six-month rule be bypassed (each record has its own sessions), so
    it is refused ("possible_duplicate") unless the staff confirm it is someone else.
    """
    patient = Patient(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        email=email.strip(),
        phone=phone.strip(),
        language=language,
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
    if country:
        patient.country = country.strip().upper()
    _refuse_duplicate_email(patient)
    patient.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            if not confirmed_not_duplicate:
                _refuse_possible_duplicate(patient)
            patient.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        if "patient_email_unique_ci" in str(exc):
            raise _duplicate_email_error(patient.email) from exc
        raise
    return patient


# The first key of the advisory locks that serialise registrations of one name and birth date.
_DUPLICATE_LOCK_CLASS = 12_006


def _refuse_possible_duplicate(patient: Patient) -> None:
    """Refuse a patient with the name and date of birth of a record already there.

    Two registrations of the same person at once (two desks, a double submit) are
    serialised on a transaction-scoped advisory lock keyed by the name and birth date, so
    the second sees the first's committed record; different people never wait on each other
    (unless their keys' hashes collide, which only costs a short wait).
    """
    key = f"{patient.last_name.lower()}|{patient.first_name.lower()}|{patient.date_of_birth}"
    if connection.vendor == "postgresql":  # SQLite (the demo default) writes one at a time
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_DUPLICATE_LOCK_CLASS, zlib.crc32(key.encode()) - 2**31],
            )
    same = possible_duplicates(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
    )
    if same:
        raise ValidationError(
            "%(name)s, born %(born)s, is already registered. Open the existing record, "
            "or confirm that this is a different person.",
            code="possible_duplicate",
            params={
                "name": patient.full_name,
                "born": f"{patient.date_of_birth:%d %b %Y}",
                "patient_ids": [p.pk for p in same],
            },
        )


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
    country: str | None = None,
    time_zone: str | None = None,
    language: str | None = None,
    now=None,
) -> Patient:
    """Change how the patient is reminded (and the language they read: the portal, emails
    and SMS, and the country their phone number is read in); pending reminders follow at
    once."""
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        patient.reminders_by_email = reminders_by_email
        patient.reminders_by_sms = reminders_by_sms
        patient.non_essential_opt_out = non_essential_opt_out
        if phone is not None:
            patient.phone = phone.strip()
        if country:  # the record's checks (Patient.clean) read the phone in it
            patient.country = country.strip().upper()
        if time_zone:
            patient.time_zone = time_zone
        if language:
            patient.language = language
        patient.full_clean(validate_constraints=False)
        patient.save()
        replan_reminders(patient=patient, now=now)
    return patient


def set_sms_reminders(*, patient: Patient, enabled: bool, reason: str, now=None) -> bool:
    """Turn the patient's SMS reminders on or off at their own request (an SMS "STOP" or
    "START"), at once. The reason is recorded in the record's history (the change's
    context); pending reminders follow. Returns whether anything changed."""
    now = now or timezone.now()
    with transaction.atomic(), pghistory.context(reason=reason):
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        if current.reminders_by_sms == enabled:
            return False
        current.reminders_by_sms = enabled
        current.save(update_fields=["reminders_by_sms", "updated_at"])
        replan_reminders(patient=current, now=now)
    return True


def replan_reminders(*, patient: Patient, now) -> None:
    """Pending reminders follow the patient's channels, consent, phone and zone at once.

    The one place the patient's services (and a merge of records, treatments.merges) ask
    for a re-plan: a signal inside the transaction, which the reminders app receives.
    """
    signals.contact_preferences_changed.send(sender=Patient, patient=patient, now=now)


# What the front office edits on a patient's record (update_patient); the email goes through
# change_patient_email's rules, consent is a yes/no stamped with the time it was given.
EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "phone",
    "country",
    "time_zone",
    "language",
    "reminders_by_email",
    "reminders_by_sms",
    "non_essential_opt_out",
    "medications",
    "takes_prescribed_nsaid",
    "prescribed_nsaid",
    "allergies",
    "notes",
)
TRACKED_FIELDS = ("email", *EDITABLE_FIELDS, "contact_consent_at")
# The medical information on a record: once one holds a value, changing it is an amendment
# that needs a reason (kept on the PatientChange with the author); a first entry needs none.
MEDICAL_FIELDS = (
    "medications",
    "takes_prescribed_nsaid",
    "prescribed_nsaid",
    "allergies",
    "notes",
)
STRIPPED_FIELDS = ("first_name", "last_name", "phone", "prescribed_nsaid")
# A change of any of these re-plans the patient's pending reminders.
REMINDER_FIELDS = frozenset(
    {
        "email",
        "phone",
        "country",
        "time_zone",
        "reminders_by_email",
        "reminders_by_sms",
        "non_essential_opt_out",
        "contact_consent_at",
    }
)


def _as_json(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def update_patient(
    *,
    patient: Patient,
    changed_by,
    data: Mapping[str, Any],
    expected_updated_at: datetime | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Patient:
    """Edit a patient's record from the front office, keeping who changed what.

    Medical information already on file (MEDICAL_FIELDS holding a value: text, or "takes a
    prescribed NSAID" ticked) is amended, not overwritten: changing or clearing it needs a
    `reason` ("reason_required"), which the PatientChange keeps with the before and after
    and the author. Filling in an empty one is a first entry and needs none.

    `data` holds any of EDITABLE_FIELDS, "email" and "contact_consent" (bool; the admin
    passes "contact_consent_at" itself). Only fields
    that really change are written, and one PatientChange row keeps their old and new values,
    so nothing is silently overwritten. `expected_updated_at` is the record's updated_at when
    the form was opened: if someone saved in between, the edit is refused ("changed_meanwhile")
    instead of undoing their change. The email changes under change_patient_email's rules
    (portal users: clinic admins only; the login follows). Channel, consent, phone or zone
    changes re-plan pending reminders as update_reminder_preferences does.
    """
    unknown = set(data) - {*EDITABLE_FIELDS, "email", "contact_consent", "contact_consent_at"}
    if unknown:
        raise TypeError(f"update_patient cannot change {sorted(unknown)}")
    now = now or timezone.now()
    with transaction.atomic():
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        if expected_updated_at is not None and current.updated_at != expected_updated_at:
            raise ValidationError(
                "Someone else changed this patient's record meanwhile: reload it, then edit.",
                code="changed_meanwhile",
            )
        before = {name: getattr(current, name) for name in TRACKED_FIELDS}
        if "email" in data:
            current = change_patient_email(
                patient=current, email=data["email"], changed_by=changed_by
            )
        for name in EDITABLE_FIELDS:
            if name in data:
                value = data[name]
                setattr(current, name, value.strip() if name in STRIPPED_FIELDS else value)
        if "contact_consent_at" in data:  # the admin sets the time itself
            current.contact_consent_at = data["contact_consent_at"]
        if "contact_consent" in data:
            if not data["contact_consent"]:
                current.contact_consent_at = None
            elif current.contact_consent_at is None:
                current.contact_consent_at = now
        current.full_clean(validate_constraints=False)
        changes = {
            name: [_as_json(before[name]), _as_json(getattr(current, name))]
            for name in TRACKED_FIELDS
            if before[name] != getattr(current, name)
        }
        if not changes:
            return current
        amended = [name for name in MEDICAL_FIELDS if name in changes and before[name]]
        if amended and not reason.strip():
            raise ValidationError(
                "Say why the medical information on file (%(fields)s) is changed: the earlier "
                "entry is kept with your reason.",
                code="reason_required",
                params={"fields": ", ".join(_label(name) for name in amended)},
            )
        current.save()
        PatientChange.objects.create(
            patient=current,
            changes=changes,
            changed_by=changed_by,
            changed_at=now,
            reason=reason.strip(),
        )
        if REMINDER_FIELDS & changes.keys():
            replan_reminders(patient=current, now=now)
    return current


def _label(name: str) -> str:
    field = Patient._meta.get_field(name)
    return str(getattr(field, "verbose_name", name))


def change_patient_email(*, patient: Patient, email: str, changed_by) -> Patient:
    """Change a patient's email and, with it, their portal sign-in (name and address), so a
    portal link can only ever go to the address on the login.

    Once the patient has an active portal account (a password of their own), only a clinic
    admin may change it, and the old address is told, so a changed address cannot quietly
    lead to someone else resetting the patient's password.
    """
    email = email.strip()
    User = get_user_model()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        old_email = patient.email
        if email == old_email:
            return patient
        user = User.objects.select_for_update().get(pk=patient.user_id) if patient.user_id else None
        active = user is not None and user.has_usable_password()
        if active and not changed_by.has_perm("patients.change_portal_login"):
            raise PermissionDenied(
                "This patient uses the portal: only a clinic admin may change their email."
            )
        patient.email = email
        _refuse_duplicate_email(patient)
        patient.full_clean(validate_constraints=False)
        if user is not None:
            if User.objects.filter(username__iexact=email).exclude(pk=user.pk).exists():
                raise ValidationError(
                    "An account with the sign-in %(email)s already exists.",
                    code="account_exists",
                    params={"email": email.lower()},
                )
            user.username, user.email = email.lower(), email
            user.save(update_fields=["username", "email"])
        try:
            with transaction.atomic():
                patient.save(update_fields=["email", "updated_at"])
        except IntegrityError as exc:
            if "patient_email_unique_ci" in str(exc):
                raise _duplicate_email_error(email) from exc
            raise
        if active:
            with translation.override(patient.language):
                message = render_to_string(
                    "portal/email_changed.txt",
                    {
                        "patient": patient,
                        "new_email": email,
                        "clinic_name": settings.CLINIC_NAME,
                        "clinic_phone": settings.CLINIC_PHONE,
                    },
                    using="text",
                )
                subject = _("Your sign-in email at %(clinic)s was changed") % {
                    "clinic": settings.CLINIC_NAME
                }
            transaction.on_commit(
                lambda: send_mail(
                    subject=subject,
                    message=message,
                    from_email=None,
                    recipient_list=[old_email],
                )
            )
    return patient


def new_calendar_token(*, patient: Patient) -> str:
    """A fresh secret for the patient's calendar feed; the old URL stops working."""
    token = secrets.token_urlsafe(32)
    Patient.objects.filter(pk=patient.pk).update(calendar_token=token)
    patient.calendar_token = token
    return token


def revoke_calendar_token(*, patient: Patient) -> None:
    Patient.objects.filter(pk=patient.pk).update(calendar_token=None)
    patient.calendar_token = None
