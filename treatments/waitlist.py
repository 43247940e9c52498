"""The waitlist: patients asking for an earlier date than the first free one, offered the
times that cancelled or moved sessions leave free.

- A patient joins at a site (`join_waitlist`; one live entry a patient, a database rule),
  optionally only for days up to `not_after`, and may leave (`leave_waitlist`).
- A cancelled or moved session sends `signals.slot_freed` inside its transaction;
  `record_freed_slot` writes a FreedSlot there (only where someone waits at that site; once
  per change: a replayed signal writes nothing) and, once it commits, `offer_next` offers it.
- `offer_next` offers the slot to the FIRST waiting patient, in the order they joined, whom
  the slot finder (treatments.slots, through self_service.offered_slot) would offer that time:
  the six-month gap both ways, the NSAID notice, the same site, the time still free; and who
  has no open session from today on, and whose `not_after` allows the day. The offer lives
  until `expires_at`: WAITLIST_OFFER_HOURS after its notice may go out (quiet hours), and
  never later than the start of the patient's NSAID pause before the slot (from then on the
  finder would no longer offer it). One live offer a slot, one a patient, each patient once
  a slot: database rules (treatments.models.WaitlistOffer).
- The notice goes out through the outbox (signals.waitlist_offer_made; reminders plans one
  row per channel) with a link to the portal page where the patient accepts or declines.
- `accept_offer` books through book_session (its checks and locks): the first to accept
  gets the time; an offer accepted twice (two clicks) books once; an ended offer books
  nothing. `decline_offer` and an expiry (`advance`, run by beat every minute) offer the slot
  to the next suitable patient at once.

Every step that changes an offer holds the freed slot's row lock (FreedSlot, then the
offer, then book_session's patient row and slot locks): steps on one slot queue up.

Refusal codes: already_waiting, has_session, offer_ended, slot_gone (self_service's),
invalid_not_after.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from sites.models import Site

from . import rules, self_service, services, signals
from .models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    FreedSlot,
    FreedSlotStatus,
    OfferStatus,
    ProtocolVersion,
    TreatmentSession,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)

logger = logging.getLogger("clinic.waitlist")

WAITLIST_NOTES = "Booked by the patient from a waitlist offer in the portal."
# An offer that would leave the patient less than this to answer is not made.
MIN_ANSWER_TIME = timedelta(hours=1)
# Candidates read per query while looking for the first one the slot suits.
CANDIDATE_BATCH = 50


def offer_hours() -> timedelta:
    return timedelta(hours=settings.WAITLIST_OFFER_HOURS)


# --- Joining and leaving ------------------------------------------------------------------


def live_entry(patient: Patient) -> WaitlistEntry | None:
    return (
        WaitlistEntry.objects.filter(patient=patient, status=WaitlistStatus.WAITING)
        .select_related("site")
        .first()
    )


def has_open_session(patient: Patient, *, now: datetime) -> bool:
    return TreatmentSession.objects.filter(
        patient=patient, status__in=OPEN_STATUSES, starts_at__gte=now
    ).exists()


def join_waitlist(
    *,
    patient: Patient,
    site: Site,
    not_after: date | None = None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put the patient on the waitlist at `site` (a patient with a session to come moves it
    instead: `has_session`)."""
    now = now or timezone.now()
    already = ValidationError(_("You are already on the waitlist."), code="already_waiting")
    if not_after is not None and not_after < rules.local_day(now, site.tz):
        raise ValidationError(
            _("Choose a day from today on, or leave the day empty."), code="invalid_not_after"
        )
    if has_open_session(patient, now=now):
        raise ValidationError(
            _("You already have a session booked: you can move it to another free time."),
            code="has_session",
        )
    if live_entry(patient) is not None:
        raise already
    try:
        with transaction.atomic():
            return WaitlistEntry.objects.create(
                patient=patient, site=site, not_after=not_after, created_at=now
            )
    except IntegrityError as exc:  # a simultaneous second click won the race
        raise already from exc


def leave_waitlist(*, patient: Patient, now: datetime | None = None) -> WaitlistEntry | None:
    """Take the patient off the waitlist; a live offer to them ends and its slot moves on."""
    now = now or timezone.now()
    entry = live_entry(patient)
    if entry is None:
        return None
    with transaction.atomic():
        # NO KEY UPDATE: an offer being inserted for this entry (its foreign-key check) does
        # not wait on it, nor it on the offer.
        entry = WaitlistEntry.objects.select_for_update(no_key=True).get(pk=entry.pk)
        if entry.status == WaitlistStatus.WAITING:
            entry.status = WaitlistStatus.WITHDRAWN
            entry.closed_at = now
            entry.save(update_fields=["status", "closed_at"])
    # No new offer picks a withdrawn entry; the live one (if any) ends and its slot moves on.
    for offer in entry.offers.filter(status=OfferStatus.OFFERED):
        decline_offer(patient=patient, offer=offer, now=now)
    return entry


# --- A slot freed -------------------------------------------------------------------------


@receiver(signals.slot_freed, dispatch_uid="treatments.waitlist.record_freed_slot")
def _on_slot_freed(sender, **kwargs):
    record_freed_slot(**kwargs)


def record_freed_slot(
    *,
    session: TreatmentSession,
    starts_at: datetime,
    ends_at: datetime,
    clinician_id: int,
    room_id: int,
    site_id: int,
    occasion: int,
    now: datetime,
    **_ignored,
) -> FreedSlot | None:
    """Inside the cancel's or move's transaction: keep the freed time (where anyone waits at
    its site) and, after the commit, offer it. Once per change: the second call for the same
    (session, occasion) writes nothing."""
    if starts_at <= now:
        return None
    if not WaitlistEntry.objects.filter(site_id=site_id, status=WaitlistStatus.WAITING).exists():
        return None
    try:
        with transaction.atomic():
            freed = FreedSlot.objects.create(
                site_id=site_id,
                clinician_id=clinician_id,
                room_id=room_id,
                starts_at=starts_at,
                ends_at=ends_at,
                session=session,
                occasion=occasion,
                freed_at=now,
            )
    except IntegrityError:  # the same change again, or this time is already being offered
        return None
    transaction.on_commit(lambda: _offer_after_commit(freed.pk, at_least=now))
    return freed


def _offer_after_commit(freed_id: int, *, at_least: datetime) -> None:
    """After the commit, in the request that freed the slot (at the change's `now`, or later);
    should it fail, the next beat (advance) offers the slot instead: the FreedSlot row is
    already safe."""
    try:
        offer_next(freed_id, now=max(timezone.now(), at_least))
    except Exception:
        logger.exception("Could not offer freed slot %s now; the next beat will", freed_id)


def offer_next(freed_id: int, *, now: datetime) -> WaitlistOffer | None:
    """Offer the freed slot to the next suitable waiting patient, unless it has a live offer
    or is closed; close it when nobody suits. Its own transaction, the slot's row locked."""
    with transaction.atomic():
        freed = _locked_slot(freed_id)
        if freed is None:
            return None
        return _offer_locked(freed, now=now)


def _locked_slot(freed_id: int, *, skip_locked: bool = False) -> FreedSlot | None:
    # Only the FreedSlot row: locking the joined site row too would block every booking's
    # insert at that site (its foreign-key check) and deadlock with book_session's locks.
    return (
        FreedSlot.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("site")
        .filter(pk=freed_id)
        .first()
    )


def _offer_locked(freed: FreedSlot, *, now: datetime) -> WaitlistOffer | None:
    if freed.status != FreedSlotStatus.OPEN:
        return None
    if freed.offers.filter(status=OfferStatus.OFFERED).exists():
        return None
    terms = ProtocolVersion.objects.in_force_on(rules.local_day(now, services.clinic_tz())).terms
    for entry in _suitable_entries(freed, now=now):
        window = _answer_window(entry.patient, freed, now=now, terms=terms)
        if window is None or not _still_waiting(entry):
            continue
        try:
            self_service.offered_slot(
                patient=entry.patient, site=freed.site, starts_at=freed.starts_at, now=now
            )
        except ValidationError:
            # The rules allow this patient (checked above): the time itself is no longer
            # free (booked meanwhile, closed, no clinician or room, past): for anyone.
            _close(freed, "no longer free", now=now)
            return None
        notice_at, expires_at = window
        offer = WaitlistOffer.objects.create(
            freed_slot=freed,
            entry=entry,
            patient=entry.patient,
            offered_at=now,
            expires_at=expires_at,
        )
        signals.waitlist_offer_made.send(
            sender=WaitlistOffer, offer=offer, notice_at=notice_at, now=now
        )
        return offer
    _close(freed, "nobody waiting suits this time", now=now)
    return None


def _still_waiting(entry: WaitlistEntry) -> bool:
    """Lock the entry (NO KEY UPDATE, as leave_waitlist does) and read it again: a patient
    leaving at this moment is either seen as gone, or leaves after this offer commits and
    then ends it."""
    return bool(
        WaitlistEntry.objects.select_for_update(no_key=True)
        .filter(pk=entry.pk, status=WaitlistStatus.WAITING)
        .values_list("pk", flat=True)
    )


def _suitable_entries(freed: FreedSlot, *, now: datetime):
    """The waiting entries at the slot's site, in the order they joined, whom the protocol
    allows the slot (six-month gap both ways, NSAID notice): the same rules the finder
    applies, computed in Python over one read of the candidates' live sessions a batch."""
    day = rules.local_day(freed.starts_at, freed.site.tz)
    clinic_today = rules.local_day(now, services.clinic_tz())
    protocol = ProtocolVersion.objects.in_force_on(clinic_today)
    open_session = TreatmentSession.objects.filter(
        patient=OuterRef("patient"), status__in=OPEN_STATUSES, starts_at__gte=now
    )
    offered_before = WaitlistOffer.objects.filter(freed_slot=freed, entry=OuterRef("pk"))
    live_offer = WaitlistOffer.objects.filter(entry=OuterRef("pk"), status=OfferStatus.OFFERED)
    candidates = (
        WaitlistEntry.objects.filter(site=freed.site, status=WaitlistStatus.WAITING)
        .filter(Q(not_after__isnull=True) | Q(not_after__gte=day))
        .filter(patient__merged_into__isnull=True, patient__user__isnull=False)
        .exclude(Exists(open_session))
        .exclude(Exists(offered_before))
        .exclude(Exists(live_offer))
        .select_related("patient")
        .order_by("created_at", "id")
    )
    last = None
    while True:
        page = candidates
        if last is not None:
            page = page.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1]))
        batch = list(page[:CANDIDATE_BATCH])
        if not batch:
            return
        booked: dict[int, list[rules.BookedDay]] = {e.patient_id: [] for e in batch}
        for patient_id, local_date, gap in TreatmentSession.objects.filter(
            patient_id__in=booked, status__in=LIVE_STATUSES
        ).values_list("patient_id", "local_date", "gap_months"):
            booked[patient_id].append(rules.BookedDay(local_date, gap))
        for entry in batch:
            if rules.gap_conflicts(
                day, gap_months=protocol.gap_months, others=booked[entry.patient_id]
            ):
                continue
            patient_today = rules.local_day(now, entry.patient.tz)
            window = rules.nsaid_window(
                rules.local_day(freed.starts_at, entry.patient.tz), terms=protocol.terms
            )
            if window.has_started(patient_today):
                continue
            yield entry
        last = (batch[-1].created_at, batch[-1].pk)


def _answer_window(patient: Patient, freed: FreedSlot, *, now: datetime, terms):
    """(when the notice may go out, when the offer ends), or None where the patient would
    have less than MIN_ANSWER_TIME. The offer ends WAITLIST_OFFER_HOURS after the notice
    (quiet hours delay it), and at the latest when the patient's NSAID pause before the slot
    begins (the patient's midnight): from then on the finder no longer offers the time."""
    tz = patient.tz
    window = rules.nsaid_window(rules.local_day(freed.starts_at, tz), terms=terms)
    deadline = datetime.combine(window.first_day, time(0), tzinfo=tz)
    notice_at = rules.place_reminder(planned=now, expires=deadline, now=now, tz=tz, terms=terms)
    if notice_at is None:
        return None
    expires_at = min(notice_at + offer_hours(), deadline)
    if expires_at - notice_at < MIN_ANSWER_TIME:
        return None
    return notice_at, expires_at


def _close(freed: FreedSlot, outcome: str, *, now: datetime, status=FreedSlotStatus.CLOSED):
    freed.status = status
    freed.closed_at = now
    freed.outcome = outcome
    freed.save(update_fields=["status", "closed_at", "outcome"])


# --- The patient answers -----------------------------------------------------------------


def offer_ended() -> ValidationError:
    return ValidationError(
        _(
            "This offer has ended: it was answered already, or its time ran out. The time may "
            "have gone to someone else."
        ),
        code="offer_ended",
    )


def is_open(offer: WaitlistOffer, *, now: datetime) -> bool:
    return offer.status == OfferStatus.OFFERED and offer.expires_at > now


def accept_offer(
    *, patient: Patient, offer: WaitlistOffer, now: datetime | None = None
) -> TreatmentSession:
    """Book the offered time for the patient it was offered to, through book_session. The
    first to accept gets it: a second acceptance of the same offer returns the session the
    first booked; an ended offer (expired even if beat has not marked it yet, declined,
    gone) books nothing (`offer_ended`); a time taken meanwhile is `slot_gone`, and the slot
    moves on to the next patient."""
    now = now or timezone.now()
    gone: ValidationError | None = None
    with transaction.atomic():
        freed = _locked_slot(offer.freed_slot_id)
        offer = WaitlistOffer.objects.select_for_update().get(pk=offer.pk)
        if freed is None or offer.patient_id != patient.pk:
            raise offer_ended()
        if offer.status == OfferStatus.ACCEPTED:
            return offer.session  # the same offer accepted twice (two clicks, two tabs)
        if not is_open(offer, now=now):
            raise offer_ended()
        try:
            slot = self_service.offered_slot(
                patient=patient, site=freed.site, starts_at=freed.starts_at, now=now
            )
            session = services.book_session(
                patient=patient,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                clinician=slot.clinician,
                room=slot.room,
                booked_by=patient.user,
                notes=WAITLIST_NOTES,
                now=now,
            )
        except ValidationError as exc:
            if not _codes(exc) & {"slot_gone", "slot_taken", "session_gap"}:
                raise
            gone = self_service.gone()
            _end_offer(offer, OfferStatus.GONE, now=now)
            transaction.on_commit(lambda: _offer_after_commit(freed.pk, at_least=now))
        else:
            _end_offer(offer, OfferStatus.ACCEPTED, now=now, session=session)
            entry = offer.entry
            entry.status, entry.closed_at, entry.session = WaitlistStatus.BOOKED, now, session
            entry.save(update_fields=["status", "closed_at", "session"])
            _close(freed, "booked through the waitlist", now=now, status=FreedSlotStatus.BOOKED)
    if gone is not None:
        raise gone
    return session


def decline_offer(
    *, patient: Patient, offer: WaitlistOffer, now: datetime | None = None
) -> WaitlistOffer:
    """The patient does not want the time: the offer ends and the next suitable patient is
    offered it at once. The patient stays on the waitlist. Declining an ended offer changes
    nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        freed = _locked_slot(offer.freed_slot_id)
        offer = WaitlistOffer.objects.select_for_update().get(pk=offer.pk)
        if freed is None or offer.patient_id != patient.pk:
            raise offer_ended()
        if offer.status != OfferStatus.OFFERED:
            return offer
        _end_offer(offer, OfferStatus.DECLINED, now=now)
        _offer_locked(freed, now=now)
    return offer


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors if e.code}
    return {e.code for e in exc.error_list if e.code}


def _end_offer(offer: WaitlistOffer, status: str, *, now: datetime, session=None) -> None:
    offer.status = status
    offer.responded_at = now
    offer.session = session
    offer.save(update_fields=["status", "responded_at", "session"])
    signals.waitlist_offer_ended.send(sender=WaitlistOffer, offer=offer, now=now)


# --- Beat: expiry, and slots left without an offer ----------------------------------------


def advance(*, now: datetime | None = None) -> dict[str, int]:
    """Run by beat every minute: offers past their time expire and their slot goes to the
    next suitable patient; an open slot without a live offer (its after-commit offer failed)
    is offered. One short transaction a slot; a slot another worker holds is skipped."""
    now = now or timezone.now()
    counts = {"expired": 0, "offered": 0}
    due = set(
        WaitlistOffer.objects.filter(status=OfferStatus.OFFERED, expires_at__lte=now).values_list(
            "freed_slot_id", flat=True
        )
    )
    unoffered = set(
        FreedSlot.objects.filter(status=FreedSlotStatus.OPEN)
        .exclude(Exists(WaitlistOffer.objects.filter(freed_slot=OuterRef("pk"), status="offered")))
        .values_list("pk", flat=True)
    )
    for freed_id in sorted(due | unoffered):
        with transaction.atomic():
            freed = _locked_slot(freed_id, skip_locked=True)
            if freed is None:
                continue
            for offer in freed.offers.select_for_update().filter(
                status=OfferStatus.OFFERED, expires_at__lte=now
            ):
                _end_offer(offer, OfferStatus.EXPIRED, now=now)
                counts["expired"] += 1
            if _offer_locked(freed, now=now) is not None:
                counts["offered"] += 1
    return counts
