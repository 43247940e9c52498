"""The day-0 baseline: the standard photo views and measurements taken at the session itself.

Why a follow-up of kind "baseline" rather than a model of its own: a baseline holds exactly
what a follow-up finds (density, shaft thickness, rating, notes, the standard photo views,
sharing with the patient), and recording it again must be an amendment with its author and
reason. FollowUp already has all of that (FollowUpFindings, FollowUpPhoto through the photo
re-encoding, FollowUpRevision with the append-only trigger, the history tracking, the
progress chart and the portal's shared results). Its due date is the session's day, so the
chart starts at day 0 with it.

The baseline row is created only when a clinician records it, already done, in the same
transaction: it is never "planned", so the review, the overdue counts and the reminders
(which all look at planned follow-ups) never see it as something due. Kept out of
services.complete_session on purpose: completing a session does not require it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from . import rules
from .formatting import long_date
from .models import FollowUp, FollowUpKind, FollowUpStatus, SessionStatus, TreatmentSession
from .services import FINDINGS_PERMISSION, clinic_tz, record_follow_up, store_photos_first


def baseline_of(session: TreatmentSession) -> FollowUp | None:
    """The session's baseline if one was recorded (one query)."""
    return session.follow_ups.filter(kind=FollowUpKind.BASELINE).first()


def unsaved_baseline(session: TreatmentSession) -> FollowUp:
    """What a form opens on before the first record (nothing is written)."""
    day = session.local_date
    return FollowUp(
        session=session,
        kind=FollowUpKind.BASELINE,
        due_date=day,
        due_from=day,
        due_until=day,
        version=0,
    )


def record_baseline(
    *,
    session: TreatmentSession,
    recorded_by,
    notes: str = "",
    side_effects: str = "",
    hair_density_per_cm2=None,
    shaft_thickness_um=None,
    patient_rating: int | None = None,
    shared_with_patient: bool = False,
    photos: Iterable[tuple[str, object]] = (),
    reason: str = "",
    expected_version: int | None = None,
    now: datetime | None = None,
) -> FollowUp:
    """Record the session's day-0 baseline, or amend it (with a `reason`).

    Clinicians only (`treatments.record_findings`). The session must be completed
    (`session_not_completed`), and the first record is taken on the session's own day
    (`baseline_day_passed` afterwards: a picture taken weeks later is not day 0; it is a
    follow-up). An amendment is allowed later, like any recorded follow-up. The patient was
    seen on the session's day, whoever records it. `expected_version` is the version the
    form was opened on (0 before the first record): a baseline recorded meanwhile by someone
    else is refused (`changed_meanwhile`), never overwritten.
    """
    now = now or timezone.now()
    photos = list(photos)
    today = rules.local_day(now, clinic_tz())
    if not recorded_by.has_perm(FINDINGS_PERMISSION):
        raise PermissionDenied("Only a clinician can record a session's baseline.")
    # The photos are written to the file storage before the session's row is locked (and
    # removed again if the recording is refused).
    with (
        store_photos_first(photos, uploaded_by=recorded_by, uploaded_at=now) as stored,
        transaction.atomic(),
    ):
        # The session row is the lock: two clinicians recording the first baseline at once
        # create one row; the second is then refused by its expected version.
        session = TreatmentSession.objects.select_for_update(of=("self",)).get(pk=session.pk)
        if session.status != SessionStatus.COMPLETED:
            raise ValidationError(
                "The baseline is recorded at the session: complete the session first.",
                code="session_not_completed",
            )
        baseline = baseline_of(session)
        if baseline is None:
            if today > session.local_date:
                raise ValidationError(
                    "The baseline is taken on the session's day (%(day)s); record today's "
                    "findings at a follow-up instead.",
                    code="baseline_day_passed",
                    params={"day": long_date(session.local_date)},
                )
            baseline = unsaved_baseline(session)
            baseline.save()
        if (
            hair_density_per_cm2 is None
            and shaft_thickness_um is None
            and not photos
            and not baseline.photos.exists()
        ):
            raise ValidationError(
                "A baseline needs a measurement or at least one of the standard photo views.",
                code="baseline_empty",
            )
        day: date = session.local_date
        return record_follow_up(
            follow_up=baseline,
            status=FollowUpStatus.DONE,
            recorded_by=recorded_by,
            notes=notes,
            side_effects=side_effects,
            hair_density_per_cm2=hair_density_per_cm2,
            shaft_thickness_um=shaft_thickness_um,
            patient_rating=patient_rating,
            shared_with_patient=shared_with_patient,
            stored_photos=stored,
            reason=reason,
            expected_version=expected_version,
            seen_on=day,
            now=now,
        )
