"""The intake questionnaire: what the patient declares before the first session, its review by
a clinician, and the "nothing changed" reconfirmation before each later session.

Services (keyword-only, one transaction, coded refusals):

    submit_intake      a new append-only version (number + 1) with its medication lines
    review_intake      a clinician marks a version reviewed     (patients.review_intake)
    reconfirm_intake   the patient says nothing changed since the newest version

Refusal codes: `intake_missing` (nothing to review or reconfirm), `not_latest` (a newer
version came in since the page was opened: review that one), `already_reviewed`,
`intake_required` (see `intake_problem`).

The rule treatments.services.complete_session asks (`intake_problem`), decided here so the
session page can show it before the day:

* The patient's newest intake version must be reviewed by a clinician. An older reviewed
  version does not do: the newest may declare a new medicine.
* For a first session (the patient has no completed session yet) that is all.
* For a later session, the newest version must also be current since the previous session:
  either it was submitted after the previous completed session's completion time (a new
  version, then reviewed), or the patient reconfirmed it ("nothing changed") after that time.

The NSAID self-declaration ("I take an NSAID prescribed by a doctor: name") sets the
patient's prescribed-NSAID flag through patients.services.update_patient, so the record's
amendment trail names the patient and the version, and booking asks for the clinician's
decision as it does for any patient on a prescribed NSAID. A later version without the
declaration never clears the flag: stopping a prescribed NSAID is the clinician's to record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.prepared import PreparedGet, prefetched

from .models import (
    INTAKE_ANSWERS,
    IntakeMedication,
    IntakeReconfirmation,
    IntakeVersion,
    Patient,
)

REVIEW_PERMISSION = "patients.review_intake"
# More lines than anyone takes medicines: a bound on what one form may write.
MAX_MEDICATION_LINES = 40

MedicationLine = tuple[str, str, str]  # name, dose, since when


def submit_intake(
    *,
    patient: Patient,
    submitted_by,
    answers: Mapping[str, Any],
    medications: Sequence[MedicationLine],
    now: datetime | None = None,
) -> IntakeVersion:
    """Store the patient's answers as a new version, and a prescribed NSAID on the record."""
    from .services import update_patient  # services imports nothing from here

    unknown = set(answers) - set(INTAKE_ANSWERS)
    if unknown:
        raise TypeError(f"submit_intake does not know {sorted(unknown)}")
    if len(medications) > MAX_MEDICATION_LINES:
        raise ValidationError(
            "At most %(max)d medication lines.",
            code="too_many_lines",
            params={"max": MAX_MEDICATION_LINES},
        )
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        last = IntakeVersion.objects.filter(patient=patient).aggregate(n=Max("number"))["n"]
        version = IntakeVersion(
            patient=patient,
            number=(last or 0) + 1,
            submitted_by=submitted_by,
            submitted_at=now,
            **{
                name: value.strip() if isinstance(value, str) else value
                for name, value in answers.items()
            },
        )
        if not version.takes_prescribed_nsaid:
            version.prescribed_nsaid = ""
        version.full_clean(exclude=["patient", "submitted_by"], validate_constraints=False)
        if version.takes_prescribed_nsaid and not version.prescribed_nsaid:
            raise ValidationError(
                {
                    "prescribed_nsaid": ValidationError(
                        "Name the NSAID your doctor prescribed, and its dose.", code="required"
                    )
                }
            )
        version.save()
        lines = []
        for position, (name, dose, since) in enumerate(medications, start=1):
            line = IntakeMedication(
                version=version,
                position=position,
                name=name.strip(),
                dose=dose.strip(),
                since=since.strip(),
            )
            line.full_clean(exclude=["version"], validate_constraints=False)
            lines.append(line)
        IntakeMedication.objects.bulk_create(lines)
        if version.takes_prescribed_nsaid and (
            not patient.takes_prescribed_nsaid
            or patient.prescribed_nsaid != version.prescribed_nsaid
        ):
            update_patient(
                patient=patient,
                changed_by=submitted_by,
                data={"takes_prescribed_nsaid": True, "prescribed_nsaid": version.prescribed_nsaid},
                reason=f"Declared by the patient in intake version {version.number}.",
                now=now,
            )
    return version


def review_intake(*, version: IntakeVersion, reviewed_by, now: datetime | None = None):
    """A clinician has read the version. Only the newest version can be reviewed: what was
    reviewed is what completing a session relies on."""
    if not reviewed_by.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied("Only a clinician can mark an intake reviewed.")
    now = now or timezone.now()
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=version.patient_id).get()
        version = IntakeVersion.objects.select_for_update().get(pk=version.pk)
        newest = IntakeVersion.objects.filter(patient_id=version.patient_id).aggregate(
            n=Max("number")
        )["n"]
        if version.number != newest:
            raise ValidationError(
                "The patient has sent a newer version of the intake since: review that one.",
                code="not_latest",
            )
        if version.reviewed_at is not None:
            raise ValidationError("This version was already reviewed.", code="already_reviewed")
        version.reviewed_by, version.reviewed_at = reviewed_by, now
        version.save(update_fields=["reviewed_by", "reviewed_at"])
    return version


def reconfirm_intake(
    *, patient: Patient, confirmed_by, now: datetime | None = None
) -> IntakeReconfirmation:
    """The patient says nothing changed since their newest version ("nothing changed")."""
    now = now or timezone.now()
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).get()
        version = IntakeVersion.objects.filter(patient=patient).order_by("-number").first()
        if version is None:
            raise ValidationError(
                "There is no intake to confirm yet: fill in the questionnaire.",
                code="intake_missing",
            )
        return IntakeReconfirmation.objects.create(
            version=version, confirmed_by=confirmed_by, confirmed_at=now
        )


# --- Reads ---------------------------------------------------------------------------------


# The patient page reads the newest version on every view: its three reads are compiled
# once a process (accounts.prepared) and put together as prefetch_related would.
_NEWEST = PreparedGet(
    lambda patient_id: (
        IntakeVersion.objects.filter(patient_id=patient_id)
        .select_related("reviewed_by")
        .order_by("-number")
    )
)
_LINES = PreparedGet(lambda version_id: IntakeMedication.objects.filter(version_id=version_id))
_RECONFIRMATIONS = PreparedGet(
    lambda version_id: IntakeReconfirmation.objects.filter(version_id=version_id).order_by(
        "-confirmed_at", "-id"
    )
)


def newest_version(patient: Patient) -> IntakeVersion | None:
    """The newest version with its lines and reconfirmations, newest first (one query
    without a version, three with)."""
    version = _NEWEST.get(patient.pk)
    if version is not None:
        prefetched([version], "medications", _LINES.all(version.pk), "version_id")
        prefetched([version], "reconfirmations", _RECONFIRMATIONS.all(version.pk), "version_id")
    return version


def intake_problem(
    patient: Patient, *, previous_completed_at: datetime | None
) -> ValidationError | None:
    """Why a session of the patient cannot be completed for want of an intake, or None.

    `previous_completed_at`: when the patient's previous session was completed (None for a
    first session). The rule is in the module's docstring.
    """
    version = IntakeVersion.objects.filter(patient=patient).order_by("-number").first()
    if version is None:
        return ValidationError(
            "%(name)s has not filled in the intake questionnaire: it must be filled in and "
            "reviewed by a clinician before the first session is completed.",
            code="intake_required",
            params={"name": patient.full_name, "missing": "intake"},
        )
    if version.reviewed_at is None:
        return ValidationError(
            "%(name)s's intake (version %(number)d) has not been reviewed by a clinician yet.",
            code="intake_required",
            params={"name": patient.full_name, "number": version.number, "missing": "review"},
        )
    if previous_completed_at is None or version.submitted_at > previous_completed_at:
        return None
    if version.reconfirmations.filter(confirmed_at__gt=previous_completed_at).exists():
        return None
    return ValidationError(
        "%(name)s has not confirmed the intake since the previous session: ask them to "
        "confirm it in the portal (\u201cnothing changed\u201d) or to send a new version.",
        code="intake_required",
        params={"name": patient.full_name, "missing": "reconfirmation"},
    )


@dataclass
class IntakeDiff:
    """What changed between the last reviewed version and the newest one."""

    since: IntakeVersion
    answers: list[tuple[str, Any, Any]] = field(default_factory=list)  # label, old, new
    added: list[MedicationLine] = field(default_factory=list)
    removed: list[MedicationLine] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.answers or self.added or self.removed)


def diff_since_review(newest: IntakeVersion) -> IntakeDiff | None:
    """The newest (unreviewed) version against the last reviewed one; None when the newest
    is reviewed or none was ever reviewed (then all of it is new). Two queries."""
    if newest.reviewed_at is not None:
        return None
    reviewed = (
        IntakeVersion.objects.filter(patient_id=newest.patient_id, reviewed_at__isnull=False)
        .prefetch_related("medications")
        .order_by("-number")
        .first()
    )
    if reviewed is None:
        return None
    diff = IntakeDiff(since=reviewed)
    for name in INTAKE_ANSWERS:
        old, new = getattr(reviewed, name), getattr(newest, name)
        if old != new:
            label = str(IntakeVersion._meta.get_field(name).verbose_name).capitalize()
            display = getattr(newest, f"get_{name}_display", None)
            if display is not None:  # a choice: its words
                choices = dict(IntakeVersion._meta.get_field(name).choices or ())
                old, new = choices.get(old, old), display()
            diff.answers.append((label, old, new))
    old_lines = [m.as_tuple() for m in reviewed.medications.all()]
    new_lines = [m.as_tuple() for m in newest.medications.all()]
    diff.added = [line for line in new_lines if line not in old_lines]
    diff.removed = [line for line in old_lines if line not in new_lines]
    return diff
