"""The patient's portal account: the invitation that creates it and sets its password.

The portal serves only a patient's own login: an invitation and its link refuse a login that
is staff, a superuser, or not this patient's.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts import roles

from .models import Patient


class InviteTokenGenerator(PasswordResetTokenGenerator):
    """One-time, expiring invitation links (PASSWORD_RESET_TIMEOUT). A token stops working
    once the password is set, since it is derived from the password hash."""

    # The module it was first written in: changing it would void every link already sent.
    key_salt = "portal.services.InviteTokenGenerator"


invite_tokens = InviteTokenGenerator()


def refuse_unless_patient_login(user: User, patient: Patient | None) -> None:
    """The portal's links may only ever set the password of a patient's own login: never a
    staff member's or a superuser's, never one linked to no patient or to another patient,
    never one whose sign-in name is not the patient's email (both change together through
    patients.services.change_patient_email)."""
    linked = Patient.objects.filter(user=user).first() if patient is None else patient
    if (
        user.is_staff
        or user.is_superuser
        or roles.is_staff_member(user)
        or not user.groups.filter(name=roles.PATIENT).exists()
        or linked is None
        or linked.user_id != user.pk
        or user.username.lower() != linked.email.strip().lower()
    ):
        raise ValidationError(
            "This patient's record is linked to a login that is not their own portal account; "
            "a clinic admin must look at it before any invitation is sent.",
            code="not_a_patient_login",
        )


@dataclass(frozen=True)
class Invitation:
    user: User
    # "invitation" (the account never had a password) or "password_reset" (it is active: the
    # link goes to the address on the login, never to one just typed into the record)
    kind: str
    sent_to: str


def invite_patient(*, patient: Patient) -> Invitation:
    """Give the patient a portal account (their email is their sign-in) and email them a
    link to set a password.

    Inviting again sends a fresh link only while the account has never had a password. Once
    the patient has set one, a new invitation is a password reset sent to the email of the
    login, so nobody can take over an active account by inviting it to another address.
    """
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        user = patient.user
        if user is None:
            username = patient.email.strip().lower()
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
        else:
            refuse_unless_patient_login(user, patient)
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        if user.has_usable_password():
            invitation = Invitation(user=user, kind="password_reset", sent_to=user.email)
            with translation.override(patient.language):
                subject = _("Reset your password at %(clinic)s") % {"clinic": settings.CLINIC_NAME}
            template = "registration/password_reset_email.html"
            context = {
                "uid": uid,
                "token": default_token_generator.make_token(user),
                "protocol": settings.SITE_URL.split("://", 1)[0],
                "domain": settings.SITE_URL.split("://", 1)[-1].rstrip("/"),
                "site_name": settings.CLINIC_NAME,
                "clinic_name": settings.CLINIC_NAME,
                "clinic_phone": settings.CLINIC_PHONE,
            }
        else:
            invitation = Invitation(user=user, kind="invitation", sent_to=patient.email)
            with translation.override(patient.language):
                subject = _("Your patient page at %(clinic)s") % {"clinic": settings.CLINIC_NAME}
            template = "portal/invite_email.txt"
            context = {
                "patient": patient,
                "link": settings.SITE_URL
                + reverse("portal_welcome", args=[uid, invite_tokens.make_token(user)]),
                "clinic_name": settings.CLINIC_NAME,
                "days": settings.PASSWORD_RESET_TIMEOUT // 86400,
                "clinic_phone": settings.CLINIC_PHONE,
            }
        with translation.override(patient.language):
            # In the language the patient reads.
            message = render_to_string(template, context, using="text")
        transaction.on_commit(
            lambda: send_mail(
                subject=subject,
                message=message,
                from_email=None,
                recipient_list=[invitation.sent_to],
            )
        )
    return invitation
