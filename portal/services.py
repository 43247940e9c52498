"""State changes of the patient portal. Keyword-only, one transaction each."""

import secrets

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import roles
from patients.models import Patient
from treatments.models import OPEN_STATUSES, TreatmentSession

from .models import ChangeRequest, SideEffectReport


class InviteTokenGenerator(PasswordResetTokenGenerator):
    """One-time, expiring invitation links (PASSWORD_RESET_TIMEOUT). A token stops working
    once the password is set, since it is derived from the password hash."""

    key_salt = "portal.services.InviteTokenGenerator"


invite_tokens = InviteTokenGenerator()


def invite_patient(*, patient: Patient) -> User:
    """Give the patient a portal account (their email is their sign-in) and email them a
    link to set a password. Inviting again sends a fresh link."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        user = patient.user
        if user is None:
            username = patient.email.lower()
            if User.objects.filter(username__iexact=username).exists():
                raise ValidationError(
                    "An account with the sign-in %(email)s already exists.",
                    code="account_exists",
                    params={"email": username},
                )
            user = User(
                username=username,
                email=patient.email,
                first_name=patient.first_name,
                last_name=patient.last_name,
            )
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=roles.PATIENT))
            patient.user = user
            patient.save(update_fields=["user"])
        link = settings.SITE_URL + reverse(
            "portal_welcome",
            args=[urlsafe_base64_encode(force_bytes(user.pk)), invite_tokens.make_token(user)],
        )
        transaction.on_commit(
            lambda: send_mail(
                subject=f"Your patient page at {settings.CLINIC_NAME}",
                message=render_to_string(
                    "portal/invite_email.txt",
                    {
                        "patient": patient,
                        "link": link,
                        "clinic_name": settings.CLINIC_NAME,
                        "days": settings.PASSWORD_RESET_TIMEOUT // 86400,
                        "clinic_phone": settings.CLINIC_PHONE,
                    },
                    using="text",
                ),
                from_email=None,
                recipient_list=[patient.email],
            )
        )
    return user


def report_side_effect(*, patient: Patient, description: str, now=None) -> SideEffectReport:
    """The patient tells the clinic about a side effect; staff see a flag until resolved."""
    description = description.strip()
    if not description:
        raise ValidationError("Please describe what you notice.", code="required")
    session = (
        TreatmentSession.objects.filter(patient=patient, status="completed")
        .order_by("-starts_at")
        .first()
    )
    return SideEffectReport.objects.create(
        patient=patient,
        session=session,
        description=description,
        reported_at=now or timezone.now(),
    )


def resolve_side_effect(*, report: SideEffectReport, resolved_by, note: str = "") -> None:
    SideEffectReport.objects.filter(pk=report.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=resolved_by, staff_note=note.strip()
    )


def request_change(*, patient: Patient, session: TreatmentSession, kind: str, message: str = ""):
    """Ask the clinic to move or cancel an upcoming session (staff decide and act)."""
    if session.patient_id != patient.pk or session.status not in OPEN_STATUSES:
        raise ValidationError("This session can no longer be changed.", code="invalid_status")
    if kind not in ChangeRequest.Kind.values:
        raise ValidationError("Choose to move or to cancel.", code="invalid")
    already = ValidationError(
        "You have already asked about this session; the clinic will contact you.",
        code="already_requested",
    )
    if ChangeRequest.objects.filter(session=session, handled_at__isnull=True).exists():
        raise already
    try:
        with transaction.atomic():
            return ChangeRequest.objects.create(
                patient=patient, session=session, kind=kind, message=message.strip()
            )
    except IntegrityError as exc:  # a simultaneous second click won the race
        raise already from exc


def handle_change_request(*, change_request: ChangeRequest, handled_by) -> None:
    ChangeRequest.objects.filter(pk=change_request.pk, handled_at__isnull=True).update(
        handled_at=timezone.now(), handled_by=handled_by
    )


def new_calendar_token(*, patient: Patient) -> str:
    """A fresh secret for the patient's calendar feed; the old URL stops working."""
    token = secrets.token_urlsafe(32)
    Patient.objects.filter(pk=patient.pk).update(calendar_token=token)
    patient.calendar_token = token
    return token


def revoke_calendar_token(*, patient: Patient) -> None:
    Patient.objects.filter(pk=patient.pk).update(calendar_token=None)
    patient.calendar_token = None
