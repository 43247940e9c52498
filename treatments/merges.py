"""Merging a duplicate patient record into the record kept (clinic admins only).

A duplicate record lets the six-month rule be bypassed: each record has its own sessions.
The merge moves the duplicate's sessions (with their follow-ups, vials and reminders),
side-effect reports and change requests to the kept record in one transaction, and refuses
("merge_gap_clash") when two live sessions would then break the gap, naming them; the
exclusion constraint session_patient_gap_excl is the last word if a booking races in. The
merged-away record is kept, marked merged_into the other, never deleted.

It lives in treatments because it moves treatments' rows; patients cannot import them.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.models import Patient, PatientChange
from patients.services import replan_reminders

from . import rules
from .db import GAP_CONSTRAINT, constraint_name
from .formatting import long_date
from .models import LIVE_STATUSES, ChangeRequest, SideEffectReport, TreatmentSession


@dataclass(frozen=True)
class MergeResult:
    kept: Patient
    duplicate: Patient
    sessions: int
    reports: int
    requests: int


def merge_patients(
    *, duplicate: Patient, kept: Patient, merged_by, now: datetime | None = None
) -> MergeResult:
    """Move everything of `duplicate` to `kept` and mark `duplicate` merged into it."""
    if not merged_by.has_perm("patients.merge_patient"):
        raise PermissionDenied("Only a clinic admin may merge patient records.")
    if duplicate.pk == kept.pk:
        raise ValidationError("A record cannot be merged into itself.", code="same_patient")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # Both rows, in a fixed order: bookings of either patient (which lock their
            # patient row) wait, so the gap check below sees every committed session.
            locked = {
                p.pk: p
                for p in Patient.objects.select_for_update()
                .filter(pk__in=[duplicate.pk, kept.pk])
                .order_by("pk")
            }
            duplicate, kept = locked[duplicate.pk], locked[kept.pk]
            if duplicate.merged_into_id:
                raise ValidationError(
                    "%(name)s's record (no. %(id)s) is already merged into another record.",
                    code="already_merged",
                    params={"name": duplicate.full_name, "id": duplicate.pk},
                )
            if kept.merged_into_id:
                raise ValidationError(
                    "The record to keep (no. %(id)s) was itself merged away: merge into the "
                    "record it was merged into.",
                    code="kept_is_merged",
                    params={"id": kept.pk},
                )
            _check_gap(duplicate=duplicate, kept=kept)
            sessions = TreatmentSession.objects.filter(patient=duplicate).update(patient=kept)
            reports = SideEffectReport.objects.filter(patient=duplicate).update(patient=kept)
            requests = ChangeRequest.objects.filter(patient=duplicate).update(patient=kept)
            duplicate.merged_into = kept
            duplicate.merged_at = now
            duplicate.calendar_token = None  # the old feed URL would now show nothing
            duplicate.save(update_fields=["merged_into", "merged_at", "calendar_token"])
            moved = f"{sessions} session(s), {reports} side-effect report(s), {requests} request(s)"
            PatientChange.objects.bulk_create(
                [
                    PatientChange(
                        patient=duplicate,
                        kind=PatientChange.Kind.MERGED_INTO,
                        changes={"merged_into": [None, kept.pk]},
                        note=f"Merged into no. {kept.pk} ({kept.full_name}); moved {moved}.",
                        changed_by=merged_by,
                        changed_at=now,
                    ),
                    PatientChange(
                        patient=kept,
                        kind=PatientChange.Kind.MERGED_FROM,
                        note=f"Took over {moved} from duplicate no. {duplicate.pk}.",
                        changed_by=merged_by,
                        changed_at=now,
                    ),
                ]
            )
            # The moved sessions' pending reminders follow the kept record's channels and zone.
            replan_reminders(patient=kept, now=now)
    except IntegrityError as exc:
        if constraint_name(exc) == GAP_CONSTRAINT:
            raise ValidationError(
                "A session was booked for one of these patients meanwhile, too close to the "
                "other's. Reload and check the sessions before merging.",
                code="merge_gap_clash",
            ) from exc
        raise
    return MergeResult(kept, duplicate, sessions, reports, requests)


def _check_gap(*, duplicate: Patient, kept: Patient) -> None:
    """Refuse when a live session of one record is too close to one of the other."""
    live = TreatmentSession.objects.filter(status__in=LIVE_STATUSES).only(
        "local_date", "gap_months"
    )
    kept_days = [s.as_booked_day() for s in live.filter(patient=kept)]
    for session in live.filter(patient=duplicate).order_by("local_date"):
        clashes = rules.gap_conflicts(
            session.local_date, gap_months=session.gap_months, others=kept_days
        )
        if clashes:
            raise ValidationError(
                "These records cannot be merged: the session on %(duplicate_day)s (record no. "
                "%(duplicate)s) and the session on %(kept_day)s (record no. %(kept)s) would be "
                "less than %(months)s months apart. Cancel or move one of them first.",
                code="merge_gap_clash",
                params={
                    "duplicate_day": long_date(session.local_date),
                    "kept_day": long_date(clashes[0].day),
                    "duplicate": duplicate.pk,
                    "kept": kept.pk,
                    "months": max(session.gap_months, clashes[0].gap_months),
                },
            )
