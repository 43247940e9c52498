"""The waitlist (treatments.waitlist): a freed time goes to the first waiting patient the
rules allow, one at a time, through the outbox; accept, decline, expiry, exactly once."""

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import roles
from reminders import selectors as reminder_selectors
from reminders.models import Reminder, ReminderState
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.factories import NOW, PatientFactory, RoomFactory, UserFactory, at, book, clinician
from treatments import services, waitlist
from treatments.models import (
    FreedSlot,
    FreedSlotStatus,
    OfferStatus,
    SessionStatus,
    TreatmentSession,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)

FRIDAY = date(2027, 1, 15)  # the freed time: Friday 15 January 2027, 09:00 Berlin


def hours_open(site, doctor):
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(9), closes=time(11))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=time(9), closes=time(11)
        )


class Clinic:
    """One site open 09:00-11:00 every day, one clinician, one room; a patient (Xavier)
    holding Friday 15 January 09:00; waiting patients added by `wait`."""

    def __init__(self):
        self.site = Site.objects.get(pk=default_site_id())
        self.doctor = clinician(first_name="Anna", last_name="Meyer")
        hours_open(self.site, self.doctor)
        self.room = RoomFactory(site=self.site, name="Room 2")
        self.holder = PatientFactory(first_name="Xavier")
        self.session = self.book(self.holder, FRIDAY)

    def book(self, patient, day, hour=9, now=NOW):
        return book(
            patient,
            day,
            hour,
            clinician_user=self.doctor,
            room=self.room,
            booked_by=self.doctor,
            now=now,
        )

    def wait(self, name, *, joined, last_session: date | None = None, **patient):
        person = PatientFactory(first_name=name, **patient)
        person.user = UserFactory(username=person.email, role=roles.PATIENT)
        person.save()
        if last_session is not None:  # a session in the past, still live for the gap
            self.book(person, last_session, hour=10, now=at(last_session - timedelta(days=30), 9))
        waitlist.join_waitlist(patient=person, site=self.site, now=joined)
        return person

    def cancel(self, now=NOW):
        return services.cancel_session(
            session=self.session, reason="Patient is ill", cancelled_by=self.doctor, now=now
        )


@pytest.fixture
def clinic(frozen):
    return Clinic()


@pytest.fixture
def three(clinic):
    """Anna joined first but had a session on 1 October 2026: the six-month gap rules out
    15 January. Ben joined second, Cem third; both may have it."""
    clinic.anna = clinic.wait(
        "Anna", joined=NOW - timedelta(hours=3), last_session=date(2026, 10, 1)
    )
    clinic.ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2), reminders_by_sms=True)
    clinic.cem = clinic.wait("Cem", joined=NOW - timedelta(hours=1))
    return clinic


def live_offers():
    return list(WaitlistOffer.objects.filter(status=OfferStatus.OFFERED))


pytestmark = pytest.mark.django_db


def test_a_cancelled_time_goes_first_to_the_first_patient_the_rules_allow(
    three, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    freed = FreedSlot.objects.get()
    assert (freed.starts_at, freed.status) == (at(FRIDAY, 9), FreedSlotStatus.OPEN)
    [offer] = live_offers()
    assert offer.patient == three.ben  # Anna joined first, but the gap rules her out
    # Offered at 09:00 Monday: twelve hours to answer.
    assert offer.expires_at == NOW + timedelta(hours=12)
    notices = Reminder.objects.filter(waitlist_offer=offer)
    assert sorted(notices.values_list("channel", flat=True)) == ["email", "sms"]
    assert {n.kind for n in notices} == {"waitlist_offer"}
    assert all(n.session_id is None and n.due_at == NOW for n in notices)
    assert all(n.expires_at == offer.expires_at for n in notices)
    assert not Reminder.objects.filter(waitlist_offer__patient__in=[three.anna, three.cem])


def test_the_notice_names_the_time_on_the_sites_clock_and_links_the_offer(
    three, django_capture_on_commit_callbacks, settings
):
    from reminders.channels import render_email, render_sms

    three.ben.time_zone = "America/New_York"
    three.ben.language = "de"
    three.ben.save()
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    email = render_email(Reminder.objects.get(waitlist_offer=offer, channel="email"))
    assert "Freitag, 15. Januar 2027" in email.subject
    assert "Ortszeit Berlin" in email.text and "New York" in email.text
    assert f"/portal/waitlist/offers/{offer.pk}/" in email.text
    sms = render_sms(Reminder.objects.get(waitlist_offer=offer, channel="sms"))
    assert f"/portal/waitlist/offers/{offer.pk}/" in sms


def test_nobody_is_offered_a_time_nobody_waiting_may_have(
    clinic, django_capture_on_commit_callbacks
):
    clinic.wait("Anna", joined=NOW - timedelta(hours=3), last_session=date(2026, 10, 1))
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    assert live_offers() == []
    freed = FreedSlot.objects.get()
    assert freed.status == FreedSlotStatus.CLOSED
    assert freed.outcome == "nobody waiting suits this time"
    assert not Reminder.objects.filter(kind="waitlist_offer").exists()


def test_nothing_is_kept_where_nobody_waits(clinic, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    assert not FreedSlot.objects.exists()


def test_a_moved_session_frees_its_old_time(three, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.reschedule_session(
            session=three.session,
            starts_at=at(date(2027, 1, 16), 9),
            ends_at=at(date(2027, 1, 16), 10),
            changed_by=three.doctor,
            now=NOW,
        )
    [offer] = live_offers()
    assert offer.freed_slot.starts_at == at(FRIDAY, 9)
    assert offer.patient == three.ben


def test_a_patient_may_wait_only_for_days_up_to_their_own_limit(
    clinic, django_capture_on_commit_callbacks
):
    clinic.wait("Ben", joined=NOW - timedelta(hours=2), **{})
    WaitlistEntry.objects.update(not_after=date(2027, 1, 14))
    cem = clinic.wait("Cem", joined=NOW - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    assert [o.patient for o in live_offers()] == [cem]


def test_a_patient_with_a_session_to_come_is_passed_over(
    clinic, django_capture_on_commit_callbacks
):
    ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2))
    cem = clinic.wait("Cem", joined=NOW - timedelta(hours=1))
    clinic.book(ben, date(2027, 1, 20))  # Ben booked himself meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    assert [o.patient for o in live_offers()] == [cem]


def test_a_patient_too_close_to_the_nsaid_pause_is_not_offered(
    clinic, django_capture_on_commit_callbacks
):
    """A time on Thursday 7 January: the pause before it begins Monday 4 January (today),
    so the finder would refuse it to anyone; it is not offered."""
    clinic.session = clinic.book(PatientFactory(), date(2027, 1, 7), now=NOW - timedelta(days=10))
    clinic.wait("Ben", joined=NOW - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    assert live_offers() == []


def test_accepting_books_the_time_and_closes_everything(three, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    later = NOW + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        session = waitlist.accept_offer(patient=three.ben, offer=offer, now=later)
    assert (session.patient, session.starts_at) == (three.ben, at(FRIDAY, 9))
    assert session.booked_by == three.ben.user and session.notes == waitlist.WAITLIST_NOTES
    offer.refresh_from_db()
    assert (offer.status, offer.session) == (OfferStatus.ACCEPTED, session)
    entry = WaitlistEntry.objects.get(patient=three.ben)
    assert (entry.status, entry.session) == (WaitlistStatus.BOOKED, session)
    assert FreedSlot.objects.get().status == FreedSlotStatus.BOOKED
    # Its notice, if still unsent, is withdrawn; nobody else is offered the time.
    assert set(Reminder.objects.filter(waitlist_offer=offer).values_list("state", flat=True)) == {
        ReminderState.WITHDRAWN
    }
    assert live_offers() == []
    # A second click returns the same session.
    assert waitlist.accept_offer(patient=three.ben, offer=offer, now=later) == session


def test_declining_offers_the_time_to_the_next_at_once(three, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    with django_capture_on_commit_callbacks(execute=True):
        waitlist.decline_offer(patient=three.ben, offer=offer, now=NOW + timedelta(minutes=5))
    offer.refresh_from_db()
    assert offer.status == OfferStatus.DECLINED
    [nxt] = live_offers()
    assert nxt.patient == three.cem
    assert WaitlistEntry.objects.get(patient=three.ben).status == WaitlistStatus.WAITING
    with pytest.raises(ValidationError) as refused:
        waitlist.accept_offer(patient=three.ben, offer=offer, now=NOW + timedelta(minutes=6))
    assert refused.value.code == "offer_ended"


def test_an_expired_offer_moves_on_and_its_notice_after_quiet_hours(
    three, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [first] = live_offers()
    # Not yet expired: nothing happens.
    assert waitlist.advance(now=first.expires_at - timedelta(seconds=1)) == {
        "expired": 0,
        "offered": 0,
    }
    late = first.expires_at + timedelta(minutes=1)  # Monday 21:01, in the quiet hours
    with django_capture_on_commit_callbacks(execute=True):
        assert waitlist.advance(now=late) == {"expired": 1, "offered": 1}
    first.refresh_from_db()
    assert first.status == OfferStatus.EXPIRED
    [second] = live_offers()
    assert second.patient == three.cem
    # The notice waits for 08:00; the twelve hours count from then.
    morning = datetime(2027, 1, 5, 8, 0, tzinfo=NOW.tzinfo)
    assert Reminder.objects.get(waitlist_offer=second).due_at == morning
    assert second.expires_at == morning + timedelta(hours=12)
    # Ben, expired, can no longer accept; beat again changes nothing.
    with pytest.raises(ValidationError) as refused:
        waitlist.accept_offer(patient=three.ben, offer=first, now=late)
    assert refused.value.code == "offer_ended"
    assert waitlist.advance(now=late) == {"expired": 0, "offered": 0}
    assert WaitlistOffer.objects.count() == 2


def test_an_offer_past_its_time_cannot_be_accepted_before_beat_marks_it(
    three, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    with pytest.raises(ValidationError) as refused:
        waitlist.accept_offer(patient=three.ben, offer=offer, now=offer.expires_at)
    assert refused.value.code == "offer_ended"
    assert not TreatmentSession.objects.filter(patient=three.ben).exists()


def test_an_offer_never_ends_after_the_patients_nsaid_pause_begins(
    clinic, django_capture_on_commit_callbacks
):
    """Freed Friday 8 January 09:00 (the pause before it begins Tuesday 5 January at the
    patient's midnight): offered Monday 18:00, the offer ends at midnight, not 06:00."""
    clinic.session = clinic.book(PatientFactory(), date(2027, 1, 8), now=NOW - timedelta(days=10))
    ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2))
    evening = at(date(2027, 1, 4), 18)
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel(now=evening)
    [offer] = live_offers()
    assert offer.patient == ben
    assert offer.expires_at == at(date(2027, 1, 5), 0)


def test_a_time_taken_meanwhile_is_refused_with_the_next_times(
    three, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    walk_in = PatientFactory()
    three.book(walk_in, FRIDAY)  # the front desk books the freed time for someone else
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ValidationError) as refused:
            waitlist.accept_offer(patient=three.ben, offer=offer, now=NOW + timedelta(hours=1))
    assert refused.value.code == "slot_gone"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.GONE
    # Cem is not told about a time that is gone: the slot closes.
    assert live_offers() == []
    assert FreedSlot.objects.get().status == FreedSlotStatus.CLOSED
    assert not TreatmentSession.objects.filter(patient=three.ben).exists()


def test_replaying_the_signal_or_beat_creates_nothing_twice(
    three, django_capture_on_commit_callbacks
):
    from treatments import signals

    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    session = TreatmentSession.objects.get(pk=three.session.pk)
    with django_capture_on_commit_callbacks(execute=True):
        signals.slot_freed.send(
            sender=TreatmentSession,
            session=session,
            now=NOW,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            clinician_id=session.clinician_id,
            room_id=session.room_id,
            site_id=session.site_id,
            occasion=session.reschedule_count,
        )
        waitlist.advance(now=NOW)
        waitlist.advance(now=NOW)
        waitlist.offer_next(FreedSlot.objects.get().pk, now=NOW)
    assert FreedSlot.objects.count() == 1
    assert WaitlistOffer.objects.count() == 1
    assert Reminder.objects.filter(kind="waitlist_offer").count() == 2  # email and SMS


def test_the_database_refuses_two_live_offers_of_one_slot(
    three, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    [offer] = live_offers()
    cem_entry = WaitlistEntry.objects.get(patient=three.cem)
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistOffer.objects.create(
            freed_slot=offer.freed_slot,
            entry=cem_entry,
            patient=three.cem,
            offered_at=NOW,
            expires_at=NOW + timedelta(hours=1),
        )


def test_one_live_entry_a_patient(clinic):
    ben = clinic.wait("Ben", joined=NOW)
    with pytest.raises(ValidationError) as refused:
        waitlist.join_waitlist(patient=ben, site=clinic.site, now=NOW)
    assert refused.value.code == "already_waiting"
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.create(patient=ben, site=clinic.site)


def test_joining_refusals(clinic):
    with pytest.raises(ValidationError) as refused:
        waitlist.join_waitlist(patient=clinic.holder, site=clinic.site, now=NOW)
    assert refused.value.code == "has_session"
    other = PatientFactory()
    with pytest.raises(ValidationError) as refused:
        waitlist.join_waitlist(patient=other, site=clinic.site, not_after=date(2027, 1, 3), now=NOW)
    assert refused.value.code == "invalid_not_after"


def test_leaving_ends_a_live_offer_and_moves_the_time_on(three, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        three.cancel()
    with django_capture_on_commit_callbacks(execute=True):
        waitlist.leave_waitlist(patient=three.ben, now=NOW + timedelta(minutes=1))
    assert WaitlistEntry.objects.get(patient=three.ben).status == WaitlistStatus.WITHDRAWN
    assert [o.patient for o in live_offers()] == [three.cem]


def test_the_cancelled_session_stays_cancelled(three, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = three.cancel()
    assert session.status == SessionStatus.CANCELLED


def test_an_offers_notices_are_the_patients_reminders_and_nobody_elses(
    clinic, django_capture_on_commit_callbacks
):
    """The patient page's reminders and the message log read the reminders about the
    patient's sessions and about their waitlist offers (two indexed reads in one UNION):
    both kinds, the patient's only, newest first."""
    ben = clinic.wait("Ben", joined=NOW - timedelta(hours=2), last_session=date(2026, 6, 1))
    with django_capture_on_commit_callbacks(execute=True):
        clinic.cancel()
    [offer] = live_offers()
    assert offer.patient == ben
    notices = set(Reminder.objects.filter(waitlist_offer=offer).values_list("pk", flat=True))
    about_sessions = set(Reminder.objects.filter(session__patient=ben).values_list("pk", flat=True))
    assert notices and about_sessions
    listed = reminder_selectors.for_patient(ben)
    assert {r.pk for r in listed} == notices | about_sessions
    assert [(r.due_at, r.pk) for r in listed] == sorted(
        ((r.due_at, r.pk) for r in listed), reverse=True
    )
    assert [r.pk for r in reminder_selectors.for_patient(ben, limit=2)] == [
        r.pk for r in listed[:2]
    ]
    logged = reminder_selectors.message_log(ben, offset=0, limit=100)
    assert {entry.reminder.pk for entry in logged} == notices | about_sessions
    holders = {r.pk for r in reminder_selectors.for_patient(clinic.holder)}
    assert holders == set(
        Reminder.objects.filter(session__patient=clinic.holder).values_list("pk", flat=True)
    )
    assert not holders & (notices | about_sessions)
