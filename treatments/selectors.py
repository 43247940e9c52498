"""Reads the pages and other services need. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from patients.models import Patient

from . import rules
from .models import LIVE_STATUSES, FollowUpKind, FollowUpStatus, ProductLot, TreatmentSession


@dataclass(frozen=True)
class NextSessionEligibility:
    """When the patient's next session may be booked, and why."""

    earliest_day: date
    reason: str


def next_session_eligibility(patient: Patient, *, today: date) -> NextSessionEligibility:
    """The first day from `today` on that a new session of the patient breaks no gap."""
    sessions = list(
        TreatmentSession.objects.filter(patient=patient, status__in=LIVE_STATUSES).only(
            "local_date", "gap_months"
        )
    )
    if not sessions:
        return NextSessionEligibility(today, "No session yet: a first session can be booked.")
    booked = [s.as_booked_day() for s in sessions]
    # The gap of a new session is checked against the newest protocol terms at booking; the
    # earlier sessions' own gaps decide what they block.
    gap = max(s.gap_months for s in sessions)
    earliest = rules.earliest_allowed_day(today, gap_months=gap, others=booked)
    last = max(booked, key=lambda b: b.day)
    return NextSessionEligibility(
        earliest,
        f"{last.gap_months} months after the session on {last.day:%d %B %Y}"
        if earliest > today
        else "The gap since the last session has passed.",
    )


def previous_assessment_missing(session: TreatmentSession) -> bool:
    """A repeat session whose previous session's 6-month assessment is not recorded yet.

    Staff are warned (not stopped): the assessment should decide on the repeat session.
    """
    previous = (
        TreatmentSession.objects.filter(
            patient_id=session.patient_id,
            status="completed",
            local_date__lt=session.local_date,
        )
        .order_by("-local_date")
        .first()
    )
    if previous is None:
        return False
    return not previous.follow_ups.filter(
        kind=FollowUpKind.ASSESSMENT, status=FollowUpStatus.DONE
    ).exists()


def lot_recipients(lot: ProductLot):
    """Every patient who received a vial of this lot, with the session: the recall list."""
    return (
        TreatmentSession.objects.filter(vials_used__lot=lot)
        .select_related("patient", "clinician")
        .order_by("local_date")
    )
