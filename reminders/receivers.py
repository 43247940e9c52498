"""How the reminders app follows the domain below it: the services of treatments and patients
send signals inside their transactions (treatments.signals, patients.signals), and these
receivers plan the outbox rows in that same transaction, then nudge a worker once it commits.
"""

from django.db import transaction
from django.dispatch import receiver

from patients.signals import contact_preferences_changed
from treatments.signals import (
    request_answered,
    session_cancelled,
    session_changed,
    waitlist_offer_ended,
    waitlist_offer_made,
)

from . import services
from .tasks import nudge_dispatcher


@receiver(session_changed, dispatch_uid="reminders.plan_for_session")
def plan_for_session(sender, *, session, now, created=False, **kwargs):
    services.plan_for_session(session, now=now, created=created)
    transaction.on_commit(nudge_dispatcher)


@receiver(session_cancelled, dispatch_uid="reminders.notify_cancellation")
def notify_cancellation(sender, *, session, now, **kwargs):
    services.notify_cancellation(session, now=now)


@receiver(contact_preferences_changed, dispatch_uid="reminders.plan_for_patient")
def plan_for_patient(sender, *, patient, now, **kwargs):
    services.plan_for_patient(patient, now=now)


@receiver(request_answered, dispatch_uid="reminders.notify_request_answered")
def notify_request_answered(sender, *, change_request, now, **kwargs):
    services.notify_request_answered(change_request, now=now)
    transaction.on_commit(nudge_dispatcher)


@receiver(waitlist_offer_made, dispatch_uid="reminders.notify_waitlist_offer")
def notify_waitlist_offer(sender, *, offer, notice_at, now, **kwargs):
    services.notify_waitlist_offer(offer, notice_at=notice_at, now=now)
    transaction.on_commit(nudge_dispatcher)


@receiver(waitlist_offer_ended, dispatch_uid="reminders.withdraw_waitlist_offer")
def withdraw_waitlist_offer(sender, *, offer, now, **kwargs):
    services.withdraw_waitlist_offer(offer, now=now)
