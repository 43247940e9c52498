"""A real Celery worker delivers a waitlist offer's notice once: the cancellation commits,
the time is offered after the commit, the dispatcher is nudged through Redis; more dispatch
runs and beat's waitlist task change nothing."""

import time
from datetime import datetime, timedelta
from datetime import time as clock

import pytest
from celery import Celery
from django.utils import timezone

from accounts import roles
from reminders.models import DeliveryAttempt, Reminder, ReminderState
from sites.models import OpeningHours, Site, WorkingHours, default_site_id
from tests.factories import PatientFactory, RoomFactory, UserFactory, clinician
from tests.test_reminder_worker import (  # noqa: F401 - fixtures
    no_quiet_hours,
    send_dispatch,
    test_broker,
    workers,
)
from tests.workers import wait_for
from treatments import rules, services, waitlist
from treatments.models import WaitlistOffer

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("reference_data"),
]


def send_task(broker: str, name: str):
    probe = Celery("probe", broker=broker)
    try:
        probe.send_task(name)
    finally:
        probe.close()


def test_a_waitlist_offer_is_delivered_once(workers, test_broker, no_quiet_hours):  # noqa: F811
    site = Site.objects.get(pk=default_site_id())
    doctor = clinician()
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=clock(9), closes=clock(11))
        WorkingHours.objects.create(
            site=site, clinician=doctor, weekday=weekday, opens=clock(9), closes=clock(11)
        )
    room = RoomFactory(site=site)
    now = timezone.now()
    day = rules.local_day(now, site.tz) + timedelta(days=10)
    starts = datetime.combine(day, clock(9), tzinfo=site.tz)
    session = services.book_session(
        patient=PatientFactory(),
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        clinician=doctor,
        room=room,
        booked_by=doctor,
        now=now,
    )
    waiting = PatientFactory(reminders_by_sms=False)
    waiting.user = UserFactory(username=waiting.email, role=roles.PATIENT)
    waiting.save()
    waitlist.join_waitlist(patient=waiting, site=site)
    workers.start("w1", broker=test_broker)
    services.cancel_session(session=session, reason="ill", cancelled_by=doctor)
    offer = WaitlistOffer.objects.get()
    assert offer.patient == waiting
    notice = Reminder.objects.get(waitlist_offer=offer)
    wait_for(
        lambda: Reminder.objects.get(pk=notice.pk).state == ReminderState.SENT,
        what="the waitlist offer's notice to be sent",
    )
    send_dispatch(test_broker)
    send_task(test_broker, "reminders.tasks.advance_waitlist")
    send_dispatch(test_broker)
    time.sleep(2)
    delivered = workers.delivered()
    assert delivered[notice.pk] == 1  # (with the holder's confirmation and cancellation)
    assert set(delivered.values()) == {1}
    assert WaitlistOffer.objects.count() == 1
    assert Reminder.objects.filter(kind="waitlist_offer").count() == 1
    assert [a.succeeded for a in DeliveryAttempt.objects.filter(reminder=notice)] == [True]
    # The holder's cancellation may be in another file of the mail folder: read them all.
    text = "".join(path.read_text() for path in sorted(workers.mail.glob("*.log")))
    assert "A time has become free" in text and f"/portal/waitlist/offers/{offer.pk}/" in text
