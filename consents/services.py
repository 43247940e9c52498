"""Signing and withdrawing consents; the checks other services make before they act."""

import re
from collections.abc import Iterable
from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from patients.models import Patient

from . import selectors
from .models import Consent, ConsentKind, ConsentVersion, SignedVia

DESK_PERMISSION = "consents.add_consent"
# Staff who record a patient's withdrawal at the desk (the patient withdraws their own in the
# portal without it).
WITHDRAW_PERMISSION = "consents.change_consent"


def _normal_name(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def sign_consent(
    *,
    patient: Patient,
    version: ConsentVersion,
    typed_name: str,
    statements: Iterable[str],
    ip: str | None,
    user_agent: str,
    shown_sha256: str | None = None,
    witnessed_by=None,
    now: datetime,
) -> Consent:
    """Record the patient's signature of `version`, as shown to them.

    The typed name must be the patient's full name (letter case and spaces aside); every
    statement of the version must be ticked; only the version current now can be signed
    (`outdated_version`), and only once while it stands (`already_signed`). `shown_sha256`
    is the hash of the text the page showed: if it is not the version's (a page opened on
    text since replaced), the signature is refused (`text_changed`). At the desk the staff
    member who hands over the tablet is the witness and needs `consents.add_consent`.
    """
    statements = [s for s in statements]
    if witnessed_by is not None and not witnessed_by.has_perm(DESK_PERMISSION):
        raise PermissionDenied("Only clinic staff can take a signature at the desk.")
    if version.published_at is None or version.published_at > now:
        raise ValidationError("This consent is not published.", code="not_published")
    if shown_sha256 is not None and shown_sha256 != version.sha256:
        raise ValidationError(
            "The text of this consent changed while it was open. Read it again and sign.",
            code="text_changed",
        )
    if _normal_name(typed_name) != _normal_name(patient.full_name):
        raise ValidationError(
            {
                "typed_name": ValidationError(
                    "Type your full name as the clinic has it: %(name)s.",
                    code="name_mismatch",
                    params={"name": patient.full_name},
                )
            }
        )
    if set(statements) != set(version.statements):
        raise ValidationError(
            {"statements": ValidationError("Tick every statement.", code="statements_required")}
        )
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one at a time
        newest = (
            ConsentVersion.objects.filter(document_id=version.document_id, published_at__lte=now)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
        )
        if newest is not None and newest > version.number:
            raise ValidationError(
                "A newer version of this consent was published; sign that one.",
                code="outdated_version",
            )
        if Consent.objects.filter(
            patient=patient,
            withdrawn_at__isnull=True,
            version__document_id=version.document_id,
            version__number__gte=version.number,
        ).exists():
            raise ValidationError("This consent is already signed.", code="already_signed")
        return Consent.objects.create(
            patient=patient,
            version=version,
            shown_sha256=version.sha256,
            signed_at=now,
            typed_name=typed_name.strip(),
            statements=list(version.statements),
            ip=ip or None,
            user_agent=(user_agent or "")[:500],
            signed_via=SignedVia.DESK if witnessed_by is not None else SignedVia.PORTAL,
            witnessed_by=witnessed_by,
        )


def withdraw_consent(*, consent: Consent, withdrawn_by, reason: str, now: datetime) -> Consent:
    """Withdraw a signature, with the reason; the clinic sees it at once. `withdrawn_by` is
    the patient's own account (portal) or a staff member's holding
    `consents.change_consent` (else `PermissionDenied`)."""
    own_account = Patient.objects.filter(pk=consent.patient_id, user_id=withdrawn_by.pk).exists()
    if not own_account and not withdrawn_by.has_perm(WITHDRAW_PERMISSION):
        raise PermissionDenied("Only the patient or clinic staff can withdraw a consent.")
    if not reason.strip():
        raise ValidationError(
            {"reason": ValidationError("Say why the consent is withdrawn.", code="reason_required")}
        )
    with transaction.atomic():
        consent = Consent.objects.select_for_update().get(pk=consent.pk)
        if consent.withdrawn_at is not None:
            raise ValidationError("This consent was already withdrawn.", code="already_withdrawn")
        consent.withdrawn_at = now
        consent.withdrawn_by = withdrawn_by
        consent.withdrawal_reason = reason.strip()
        consent.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    return consent


def require_consent(patient: Patient, *, kind: str, on_day: date) -> None:
    """Refuse (`consent_required` / `photo_consent_required`) unless the patient has signed,
    and not withdrawn, the version of each `kind` document current on `on_day`."""
    missing = selectors.missing_consents(patient, on_day, kinds=(kind,))
    if not missing:
        return
    names = ", ".join(f"{v.document.title} version {v.number}" for v in missing)
    code = "photo_consent_required" if kind == ConsentKind.PHOTO else "consent_required"
    raise ValidationError(
        "%(name)s has not signed %(missing)s.",
        code=code,
        params={"name": patient.full_name, "missing": names},
    )
