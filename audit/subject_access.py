"""Everything the clinic holds about one patient, for a subject access request (GDPR Art. 15).

`subject_access_report(patient)` assembles it as a dict of sections, each a dict (one
record) or a list of dicts (rows); the JSON download is that dict and the printable page
renders it, section by section, so a section added here (e.g. the history and the access
log) reaches both without touching either. Times are on the clinic's clock (aware datetimes
in its zone; the JSON writes them as ISO 8601 with the offset, and `about` names the zone).

It reads a fixed number of queries whatever the number of sessions, follow-ups, photos or
reminders (select_related / prefetch_related); only merged records merged in turn add one
query per level of merging.

Merged records (treatments.merges): the record kept holds the sessions, side-effect reports
and change requests moved from its duplicates, so its report has them; it also lists each
duplicate's own record and changes (same person, record of their own). A duplicate's report
is its own record and changes, and names the record it was merged into, whose report holds
everything that moved there.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from patients.models import INTAKE_ANSWERS, IntakeVersion, Patient, PatientChange
from reminders.models import InboundMessage, Reminder
from treatments.files import STORAGE_ERRORS
from treatments.models import (
    FINDING_FIELDS,
    ChangeRequest,
    FollowUp,
    FollowUpPhoto,
    FollowUpRevision,
    NsaidDecision,
    SessionRecordRevision,
    SessionVial,
    SideEffectReport,
    TreatmentSession,
    WaitlistEntry,
)

from . import selectors as audit_selectors

# The sections in the order the page shows them, with their headings. A section not named
# here (added later) is shown after these under a heading made from its name.
# Who may export a patient's data (clinic admins).
EXPORT_PERMISSION = "patients.export_patient_data"

SECTION_TITLES = {
    "about": pgettext_lazy("staff", "About this export"),
    "record": pgettext_lazy("staff", "The patient's record"),
    "merged_records": pgettext_lazy("staff", "Duplicate records merged into this one"),
    "record_changes": pgettext_lazy("staff", "Changes to the record"),
    "intake": pgettext_lazy("staff", "Intake questionnaires (every version)"),
    "sessions": pgettext_lazy("staff", "Sessions"),
    "vials_used": pgettext_lazy("staff", "Vials used (product lots)"),
    "session_record_amendments": pgettext_lazy("staff", "Amendments of session records"),
    "nsaid_decisions": pgettext_lazy("staff", "Decisions on the prescribed NSAID"),
    "follow_ups": pgettext_lazy("staff", "Follow-ups"),
    "photos": pgettext_lazy("staff", "Photos"),
    "side_effect_reports": pgettext_lazy("staff", "Side effects reported by the patient"),
    "change_requests": pgettext_lazy("staff", "Requests to move or cancel a session"),
    "waitlist": pgettext_lazy(
        "staff", "Waitlist: asking for an earlier date, and the times offered"
    ),
    "messages": pgettext_lazy("staff", "Messages sent (reminders and notices)"),
    "messages_received": pgettext_lazy("staff", "SMS received from the patient's number"),
    "history": pgettext_lazy(
        "staff", "Every recorded change (the database's history), newest first"
    ),
    "access_log": pgettext_lazy("staff", "Who looked at the record, newest first"),
}


def section_title(name: str) -> str:
    title = SECTION_TITLES.get(name)
    return str(title) if title else name.replace("_", " ").capitalize()


def subject_access_report(
    patient: Patient, *, now: datetime | None = None, photo_hashes: bool = True
) -> dict[str, Any]:
    """{section name: a dict or a list of dicts} about `patient` (see the module's docstring).

    `photo_hashes`: add each photo file's SHA-256 (reads the files; the JSON has them, the
    printable page shows the photos themselves instead)."""
    tz = ZoneInfo(settings.CLINIC_TIME_ZONE)
    now = now or timezone.now()

    def when(instant: datetime | None) -> datetime | None:
        return instant.astimezone(tz) if instant else None

    merged = _merged_records(patient)
    sessions = list(
        TreatmentSession.objects.filter(patient=patient)
        .select_related(
            "clinician",
            "room",
            "site",
            "protocol",
            "booked_by",
            "checked_in_by",
            "rescheduled_by",
            "cancelled_by",
            "no_show_recorded_by",
            "completed_by",
            "nsaid_decided_by",
        )
        .prefetch_related(
            Prefetch("vials_used", queryset=SessionVial.objects.select_related("lot")),
            Prefetch(
                "record_revisions",
                queryset=SessionRecordRevision.objects.select_related("recorded_by"),
            ),
            Prefetch(
                "nsaid_decisions", queryset=NsaidDecision.objects.select_related("decided_by")
            ),
            Prefetch(
                "follow_ups",
                queryset=FollowUp.objects.select_related("seen_by", "recorded_by").order_by(
                    "due_date", "id"
                ),
            ),
            Prefetch(
                "follow_ups__revisions",
                queryset=FollowUpRevision.objects.select_related("recorded_by"),
            ),
            Prefetch(
                "follow_ups__photos",
                queryset=FollowUpPhoto.objects.select_related("uploaded_by"),
            ),
        )
        .order_by("starts_at", "id")
    )
    follow_ups = [f for s in sessions for f in s.follow_ups.all()]
    changes = (
        PatientChange.objects.filter(patient_id__in=[patient.pk, *(m.pk for m in merged)])
        .select_related("changed_by")
        .order_by("changed_at", "id")
    )
    reports = (
        SideEffectReport.objects.filter(patient=patient)
        .select_related("resolved_by")
        .order_by("reported_at", "id")
    )
    requests = (
        ChangeRequest.objects.filter(patient=patient)
        .select_related("handled_by")
        .order_by("requested_at", "id")
    )
    waiting = (
        WaitlistEntry.objects.filter(patient=patient)
        .select_related("site")
        .prefetch_related("offers__freed_slot")
        .order_by("created_at", "id")
    )
    reminders = (
        Reminder.objects.filter(Q(session__patient=patient) | Q(waitlist_offer__patient=patient))
        .prefetch_related("deliveries")
        .order_by("due_at", "id")
    )
    received = InboundMessage.objects.filter(patient=patient).order_by("received_at", "id")
    return {
        "about": {
            "patient_id": patient.pk,
            "generated_at": when(now),
            "clinic": settings.CLINIC_NAME,
            "clinic_time_zone": tz.key,
            "times": f"on the clinic's clock ({tz.key}), with their offset from UTC",
            "merged_into": patient.merged_into_id,
            "merged_note": (
                f"This record was merged into record no. {patient.merged_into_id} on "
                f"{when(patient.merged_at):%Y-%m-%d}: its sessions, side-effect reports and "
                "requests moved there and are in that record's export."
                if patient.merged_into_id and patient.merged_at
                else ""
            ),
            "merged_records": [m.pk for m in merged],
        },
        "record": _record(patient, when),
        "merged_records": [_record(m, when) for m in merged],
        "record_changes": [
            {
                "record_id": c.patient_id,
                "changed_at": when(c.changed_at),
                "changed_by": _name(c.changed_by),
                "kind": c.get_kind_display(),
                "changes": {
                    name: {"before": old, "after": new} for name, (old, new) in c.changes.items()
                },
                "reason": c.reason,
                "note": c.note,
            }
            for c in changes
        ],
        "intake": [
            {
                "version": v.number,
                "submitted_at": when(v.submitted_at),
                "submitted_by": _name(v.submitted_by),
                **{name: getattr(v, name) for name in INTAKE_ANSWERS},
                "medications": [
                    {"name": m.name, "dose": m.dose, "since": m.since} for m in v.medications.all()
                ],
                "reviewed_at": when(v.reviewed_at),
                "reviewed_by": _name(v.reviewed_by),
                "reconfirmed_at": [when(r.confirmed_at) for r in v.reconfirmations.all()],
            }
            for v in IntakeVersion.objects.filter(patient=patient)
            .select_related("submitted_by", "reviewed_by")
            .prefetch_related("medications", "reconfirmations")
            .order_by("number")
        ],
        "sessions": [_session(s, when) for s in sessions],
        "vials_used": [
            {
                "session_id": s.pk,
                "product_name": v.lot.product_name,
                "manufacturer": v.lot.manufacturer,
                "lot_number": v.lot.lot_number,
                "expiry_date": v.lot.expiry_date,
                "vials": v.vials,
            }
            for s in sessions
            for v in s.vials_used.all()
        ],
        "session_record_amendments": [
            {
                "session_id": s.pk,
                "version": r.version,
                "recorded_at": when(r.recorded_at),
                "recorded_by": _name(r.recorded_by),
                "reason": r.reason,
                "notes": r.notes,
                "side_effects": r.side_effects,
                "vials": [
                    {k: v[k] for k in ("lot_number", "product_name", "expiry_date", "vials")}
                    for v in r.vials
                ],
            }
            for s in sessions
            for r in s.record_revisions.all()
        ],
        "nsaid_decisions": [
            {
                "session_id": s.pk,
                "decided_at": when(d.decided_at),
                "decided_by": _name(d.decided_by),
                "decision": d.decision,
                "reason": d.reason,
            }
            for s in sessions
            for d in s.nsaid_decisions.all()
        ],
        "follow_ups": [_follow_up(f, when) for f in follow_ups],
        "photos": [
            _photo(p, f, when, with_hash=photo_hashes) for f in follow_ups for p in f.photos.all()
        ],
        "side_effect_reports": [
            {
                "id": r.pk,
                "session_id": r.session_id,
                "reported_at": when(r.reported_at),
                "description": r.description,
                "resolved_at": when(r.resolved_at),
                "resolved_by": _name(r.resolved_by),
                "staff_note": r.staff_note,
            }
            for r in reports
        ],
        "change_requests": [
            {
                "id": c.pk,
                "session_id": c.session_id,
                "kind": c.get_kind_display(),
                "requested_at": when(c.requested_at),
                "message": c.message,
                "handled_at": when(c.handled_at),
                "handled_by": _name(c.handled_by),
                "outcome": c.outcome,
            }
            for c in requests
        ],
        "waitlist": [
            {
                "id": e.pk,
                "site": e.site.name,
                "joined_at": when(e.created_at),
                "days_up_to": str(e.not_after or ""),
                "status": e.get_status_display(),
                "closed_at": when(e.closed_at),
                "session_id": e.session_id,
                "offers": [
                    {
                        "id": o.pk,
                        "time_offered": when(o.freed_slot.starts_at),
                        "offered_at": when(o.offered_at),
                        "until": when(o.expires_at),
                        "status": o.get_status_display(),
                        "answered_at": when(o.responded_at),
                        "session_id": o.session_id,
                    }
                    for o in e.offers.all()
                ],
            }
            for e in waiting
        ],
        "messages": [
            {
                "id": r.pk,
                "session_id": r.session_id,
                "follow_up_id": r.follow_up_id,
                "waitlist_offer_id": r.waitlist_offer_id,
                "kind": r.get_kind_display(),
                "channel": r.get_channel_display(),
                "due_at": when(r.due_at),
                "status": r.get_state_display(),
                "sent_at": when(r.sent_at),
                "status_note": r.status_note,
                "provider_message_id": r.provider_message_id,
                "delivery_status": r.get_delivery_status_display() if r.delivery_status else "",
                "delivered_at": when(r.delivered_at),
                "delivery_attempts": [
                    {
                        "attempted_at": when(d.attempted_at),
                        "succeeded": d.succeeded,
                        "error": d.error,
                    }
                    for d in r.deliveries.all()
                ],
            }
            for r in reminders
        ],
        "messages_received": [
            {
                "id": m.pk,
                "received_at": when(m.received_at),
                "from": m.from_number,
                "text": m.body,
                "understood_as": m.get_kind_display(),
                "outcome": m.outcome,
                "provider_message_id": m.provider_message_id,
            }
            for m in received
        ],
        # Who changed what and who looked: the staff member's name and the time, not the
        # address or page they worked from (the clinic's own security data).
        "history": [
            {
                "at": when(e.at),
                "what": e.what,
                "object_id": e.object_id,
                "action": e.action,
                "by": e.actor,
                "changes": [
                    {"field": c.field, "before": _plain(c.before), "after": _plain(c.after)}
                    for c in e.changes
                ],
            }
            for e in audit_selectors.patient_history(patient)[0:]
        ],
        "access_log": [
            {
                "at": when(a.at),
                "by": a.username,
                "looked_at": a.get_kind_display(),
                "object_id": a.object_id,
            }
            for a in audit_selectors.patient_reads(patient)
        ],
    }


def _plain(value: Any) -> Any:
    """A history value as the export writes it: times on the clinic's clock, the rest as
    the history page shows it."""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(settings.CLINIC_TIME_ZONE))
    return value


def _merged_records(patient: Patient) -> list[Patient]:
    """The records merged into this one, and those merged into them (one query a level)."""
    found: list[Patient] = []
    level = [patient.pk]
    while level:
        more = list(Patient.objects.filter(merged_into_id__in=level).order_by("id"))
        found += more
        level = [p.pk for p in more]
    return found


def _name(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.username


# Never exported as they are: the secret of the calendar feed URL (a working link to the
# patient's appointments) is reported only as present or not.
_SECRET_FIELDS = {"calendar_token"}


def _record(patient: Patient, when) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for field in Patient._meta.concrete_fields:
        if field.name in _SECRET_FIELDS:
            continue
        value = getattr(patient, field.attname)
        record[field.attname] = when(value) if isinstance(value, datetime) else value
    record["calendar_feed_active"] = bool(patient.calendar_token)
    return record


def _session(s: TreatmentSession, when) -> dict[str, Any]:
    return {
        "id": s.pk,
        # On the session's site's clock, as every page shows it (its day is the site's).
        "starts_at": s.starts_at.astimezone(s.tz),
        "ends_at": s.ends_at.astimezone(s.tz),
        "day": s.local_date,
        "site": s.site.name,
        "status": s.get_status_display(),
        "clinician": _name(s.clinician),
        "room": s.room.name,
        "protocol": s.protocol.name,
        "booked_at": when(s.booked_at),
        "booked_by": _name(s.booked_by),
        "rescheduled_at": when(s.rescheduled_at),
        "rescheduled_by": _name(s.rescheduled_by),
        "checked_in_at": when(s.checked_in_at),
        "checked_in_by": _name(s.checked_in_by),
        "cancelled_at": when(s.cancelled_at),
        "cancelled_by": _name(s.cancelled_by),
        "cancellation_reason": s.cancellation_reason,
        "no_show_recorded_at": when(s.no_show_recorded_at),
        "no_show_recorded_by": _name(s.no_show_recorded_by),
        "nsaid_free_confirmed_at": when(s.nsaid_free_confirmed_at),
        "nsaid_decision": s.nsaid_decision,
        "completed_at": when(s.completed_at),
        "completed_by": _name(s.completed_by),
        "notes": s.notes,
        "side_effects": s.side_effects,
        "record_version": s.record_version,
    }


def _findings(source, when, *, seen_by: bool = True) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in FINDING_FIELDS:
        if name == "seen_by":
            if seen_by:  # a revision's author is its recorded_by (not loaded: no query)
                found[name] = _name(source.seen_by)
        else:
            value = getattr(source, name)
            found[name] = when(value) if isinstance(value, datetime) else value
    return found


def _follow_up(f: FollowUp, when) -> dict[str, Any]:
    return {
        "id": f.pk,
        "session_id": f.session_id,
        "kind": f.get_kind_display(),
        "due_date": f.due_date,
        "status": f.get_status_display(),
        **_findings(f, when),
        "recorded_at": when(f.recorded_at),
        "recorded_by": _name(f.recorded_by),
        "version": f.version,
        "revisions": [
            {
                "version": r.version,
                "status": r.get_status_display(),
                "recorded_at": when(r.recorded_at),
                "recorded_by": _name(r.recorded_by),
                "reason": r.reason,
                **_findings(r, when, seen_by=False),
            }
            for r in f.revisions.all()
        ],
    }


def _photo(p: FollowUpPhoto, f: FollowUp, when, *, with_hash: bool) -> dict[str, Any]:
    photo: dict[str, Any] = {
        "id": p.pk,
        "follow_up_id": f.pk,
        "session_id": f.session_id,
        "view": p.get_view_display(),
        "uploaded_at": when(p.uploaded_at),
        "uploaded_by": _name(p.uploaded_by),
        "file_name": p.image.name.rsplit("/", 1)[-1],
    }
    if with_hash:
        photo["sha256"] = _sha256(p)
    return photo


def _sha256(photo: FollowUpPhoto) -> str | None:
    """The file's SHA-256, or None when the file is missing from storage (or the store does
    not answer: the report still opens, the hash says it could not be read)."""
    digest = hashlib.sha256()
    try:
        with photo.image.open("rb") as stream:
            for chunk in iter(lambda: stream.read(65536), b""):
                digest.update(chunk)
    except STORAGE_ERRORS:  # FileNotFoundError is an OSError
        return None
    return digest.hexdigest()


def as_tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as the printable page shows it: per section its title and either the
    (field, value) pairs of one record or the columns and rows of a list (the columns are
    every key any row has, in the order they first appear)."""
    names = [n for n in SECTION_TITLES if n in report] + [
        n for n in report if n not in SECTION_TITLES
    ]
    tables = []
    for name in names:
        value = report[name]
        table: dict[str, Any] = {"name": name, "title": section_title(name)}
        if isinstance(value, dict):
            table["pairs"] = list(value.items())
        else:
            columns: list[str] = []
            for row in value:
                columns += [key for key in row if key not in columns]
            table["columns"] = columns
            table["rows"] = [[row.get(c) for c in columns] for row in value]
            table["items"] = value
        tables.append(table)
    return tables
