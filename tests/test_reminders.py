"""Reminder rows: planning through the session lifecycle, channels and consent, the messages,
and delivery (in this process; tests/test_reminder_worker.py runs real workers)."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg2
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from patients.services import update_reminder_preferences
from reminders import delivery
from reminders import services as reminder_services
from reminders.channels import LocmemSmsBackend
from reminders.models import DeliveryAttempt, Reminder, ReminderState
from tests.backends import CallbackEmailBackend
from tests.factories import BERLIN, NOW, PatientFactory, ProductLotFactory, at, book
from treatments import services
from treatments.models import FollowUpStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.SMS_BACKEND = "reminders.channels.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()


def dispatch_at(when: datetime):
    with time_machine.travel(when, tick=False):
        return delivery.dispatch_due()


def rows(session, **filters):
    return {(r.kind, r.channel): r for r in Reminder.objects.filter(session=session, **filters)}


def local(dt, tz=BERLIN):
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


class TestPlanning:
    def test_booking_plans_every_session_reminder(self):
        session = book(PatientFactory(reminders_by_sms=False), date(2027, 3, 10))
        planned = {kind: local(r.due_at) for (kind, _), r in rows(session).items()}
        assert planned == {
            "booking_confirmation": "2027-01-04 09:00",
            "nsaid_stop": "2027-03-07 08:00",
            "day_before": "2027-03-09 09:00",
            "aftercare": "2027-03-10 18:00",
            "nsaid_end": "2027-04-01 09:00",
        }
        assert {r.channel for r in rows(session).values()} == {"email"}
        assert all(r.state == ReminderState.PENDING for r in rows(session).values())

    def test_email_and_sms(self):
        session = book(PatientFactory(reminders_by_sms=True), date(2027, 3, 10))
        assert len(rows(session, channel="sms")) == 5
        assert len(rows(session, channel="email")) == 5

    def test_no_consent_or_opt_out_leaves_only_essential_messages(self):
        for patient in (
            PatientFactory(contact_consent_at=None),
            PatientFactory(non_essential_opt_out=True),
        ):
            session = book(patient, date(2027, 3, 10))
            assert {k for k, _ in rows(session)} == {
                "booking_confirmation",
                "nsaid_stop",
                "aftercare",
            }

    def test_no_channel_chosen_essential_still_by_email(self):
        session = book(PatientFactory(reminders_by_email=False), date(2027, 3, 10))
        assert set(rows(session)) == {
            ("booking_confirmation", "email"),
            ("nsaid_stop", "email"),
            ("aftercare", "email"),
        }

    def test_sms_opt_out_means_never_an_sms(self):
        patient = PatientFactory(reminders_by_sms=False)
        session = book(patient, date(2027, 3, 10))
        services.cancel_session(
            session=session, reason="ill", cancelled_by=session.booked_by, now=NOW
        )
        assert not Reminder.objects.filter(channel="sms").exists()

    def test_a_patient_in_new_york_gets_new_york_times(self):
        session = book(PatientFactory(time_zone="America/New_York"), date(2027, 3, 10), hour=16)
        ny = ZoneInfo("America/New_York")
        assert local(rows(session)[("day_before", "email")].due_at, ny) == "2027-03-09 09:00"

    def test_booked_late_in_the_evening_confirmation_waits_for_morning(self):
        evening = at(date(2027, 1, 4), 22, 30)
        session = book(day=date(2027, 3, 10), now=evening)
        assert local(rows(session)[("booking_confirmation", "email")].due_at) == "2027-01-05 08:00"

    def test_completing_plans_follow_up_and_eligibility_reminders(self):
        session = book(day=date(2027, 3, 10))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=session.ends_at,
        )
        follow_up_rows = Reminder.objects.filter(session=session, kind="follow_up_due")
        assert sorted(local(r.due_at) for r in follow_up_rows) == [
            "2027-03-15 09:00",
            "2027-06-08 09:00",
            "2027-09-08 09:00",
            "2028-03-08 09:00",
        ]
        assert local(rows(session)[("next_session_eligible", "email")].due_at) == "2027-09-10 10:00"
        # Pre-session ones never sent by now are withdrawn, not sent late.
        assert rows(session)[("day_before", "email")].state == ReminderState.WITHDRAWN

    def test_a_recorded_follow_up_withdraws_its_reminder(self):
        session = book(day=date(2027, 3, 10))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=session.ends_at,
        )
        follow_up = session.follow_ups.get(kind="early_result")
        services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=session.clinician,
            now=at(date(2027, 6, 1)),
        )
        reminder = Reminder.objects.get(follow_up=follow_up)
        assert reminder.state == ReminderState.WITHDRAWN
        other = Reminder.objects.get(follow_up__kind="assessment", session=session)
        assert other.state == ReminderState.PENDING

    def test_each_reminder_exists_once(self):
        session = book(day=date(2027, 3, 10))
        reminder_services.plan_for_session(session, now=NOW)
        reminder_services.plan_for_session(session, now=NOW)
        assert Reminder.objects.filter(session=session).count() == 5


class TestLifecycle:
    def test_reschedule_sends_nothing_for_the_old_time(self):
        patient = PatientFactory()
        session = book(patient, date(2027, 3, 10))
        dispatch_at(NOW)  # the confirmation for 10 March goes out
        assert len(mail.outbox) == 1
        services.reschedule_session(
            session=session,
            starts_at=at(date(2027, 4, 14), 10),
            ends_at=at(date(2027, 4, 14), 11),
            changed_by=session.booked_by,
            now=NOW + timedelta(hours=1),
        )
        dispatch_at(NOW + timedelta(hours=1))
        assert "moved" in mail.outbox[1].body and "14 April 2027" in mail.outbox[1].body
        assert mail.outbox[1].subject == "Your session has moved to Wednesday 14 April 2027"
        # The old reminders' moments pass with nothing sent.
        for when in (at(date(2027, 3, 7), 8), at(date(2027, 3, 9), 9), at(date(2027, 3, 10), 18)):
            dispatch_at(when)
        assert len(mail.outbox) == 2
        dispatch_at(at(date(2027, 4, 13), 9))
        assert [m.subject for m in mail.outbox[2:]] == [
            "From today: no aspirin, ibuprofen or other NSAIDs until Wednesday 5 May 2027",
            "Your session tomorrow, Wednesday 14 April 2027",
        ]
        old = Reminder.objects.filter(session=session, occasion=0)
        assert {r.kind: r.state for r in old} == {
            "booking_confirmation": "sent",  # stays in the log
            "nsaid_stop": "withdrawn",
            "day_before": "withdrawn",
            "aftercare": "withdrawn",
            "nsaid_end": "withdrawn",
        }

    def test_cancel_withdraws_and_sends_one_notice(self):
        patient = PatientFactory(reminders_by_sms=True)
        session = book(patient, date(2027, 3, 10))
        services.cancel_session(
            session=session, reason="ill", cancelled_by=session.booked_by, now=NOW
        )
        dispatch_at(NOW)
        dispatch_at(NOW + timedelta(minutes=5))
        subjects = [m.subject for m in mail.outbox]
        assert subjects == ["Your session on Wednesday 10 March 2027 is cancelled"]
        assert [s["body"][:40] for s in LocmemSmsBackend.outbox] == [
            "Exosome Hair Clinic: your session on Wed"
        ]
        for when in (at(date(2027, 3, 7), 8), at(date(2027, 3, 10), 18), at(date(2027, 4, 1), 9)):
            dispatch_at(when)
        assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1

    def test_preferences_take_effect_on_pending_reminders(self):
        patient = PatientFactory(reminders_by_sms=False)
        session = book(patient, date(2027, 3, 10))
        update_reminder_preferences(
            patient=patient,
            reminders_by_email=False,
            reminders_by_sms=True,
            non_essential_opt_out=True,
            now=NOW,
        )
        pending = {k for k, r in rows(session).items() if r.state == ReminderState.PENDING}
        assert pending == {
            ("booking_confirmation", "sms"),
            ("nsaid_stop", "sms"),
            ("aftercare", "sms"),
        }


class TestDelivery:
    def test_due_reminders_are_sent_once_with_real_dates(self):
        patient = PatientFactory(first_name="Siobhan", last_name="O'Brien")
        book(patient, date(2027, 3, 10))
        assert dispatch_at(NOW) == {"claimed": 1, "sent": 1}
        assert dispatch_at(NOW + timedelta(minutes=1)) == {"claimed": 0}
        [message] = mail.outbox
        assert message.to == [patient.email]
        assert message.subject == "Your session on Wednesday 10 March 2027 is booked"
        assert "Wednesday 10 March 2027 at 10:00 Berlin time" in message.body
        assert "your time in" not in message.body  # a Berlin patient reads one clock
        assert "From Sunday 7 March 2027 until Wednesday 31 March 2027" in message.body
        assert "+49 30 1234567" in message.body
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html" and "<p>" in html and "Exosome Hair Clinic" in html
        reminder = Reminder.objects.get(kind="booking_confirmation")
        assert message.extra_headers["Message-ID"] == f"<reminder-{reminder.pk}@clinic.invalid>"
        assert reminder.state == ReminderState.SENT and reminder.attempts == 1
        assert [d.succeeded for d in reminder.deliveries.all()] == [True]

    def test_plain_text_is_not_html_escaped(self):
        book(PatientFactory(first_name="D'Arcy"), date(2027, 3, 10))
        dispatch_at(NOW)
        assert "Dear D'Arcy" in mail.outbox[0].body
        assert "D&#x27;Arcy" in mail.outbox[0].alternatives[0][0]

    def test_prescribed_nsaid_patients_are_never_told_to_just_stop(self):
        patient = PatientFactory(takes_prescribed_nsaid=True, prescribed_nsaid="Aspirin 100 mg")
        book(patient, date(2027, 3, 10))
        dispatch_at(at(date(2027, 3, 7), 8))
        bodies = " ".join(m.body for m in mail.outbox)
        assert "Aspirin 100 mg" in bodies and "do not stop it on your own" in bodies

    def test_each_kind_renders_for_sms_and_email(self):
        session = book(PatientFactory(reminders_by_sms=True), date(2027, 3, 10))
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=session.clinician,
            now=session.ends_at,
        )
        for when in (
            at(date(2027, 3, 10), 18),
            at(date(2027, 4, 1), 9),
            at(date(2027, 3, 15), 9),
            at(date(2027, 9, 10), 10),
        ):
            dispatch_at(when)
        kinds = set(Reminder.objects.filter(state="sent").values_list("kind", flat=True))
        assert {"aftercare", "nsaid_end", "follow_up_due", "next_session_eligible"} <= kinds
        assert all(len(s["body"]) <= 320 for s in LocmemSmsBackend.outbox)
        assert not Reminder.objects.filter(state="failed").exists()

    def test_a_stale_reminder_expires_instead_of_going_out_late(self):
        # Workers were down all through the session day: "your session is tomorrow" and the
        # stop notice must not go out afterwards.
        book(day=date(2027, 3, 10))
        counts = dispatch_at(at(date(2027, 3, 10), 18))
        assert counts["expired"] == 3  # confirmation, NSAID stop, day before
        assert [m.subject for m in mail.outbox] == ["Aftercare after your session today"]

    def test_failures_back_off_then_fail_and_staff_can_resend(self, settings):
        settings.SMS_BACKEND = "tests.backends.FailingSmsBackend"
        settings.REMINDER_MAX_ATTEMPTS = 3
        book(PatientFactory(reminders_by_sms=True, reminders_by_email=False), date(2027, 3, 10))
        reminder = Reminder.objects.get(kind="booking_confirmation")
        dispatch_at(NOW)
        reminder.refresh_from_db()
        assert (reminder.state, reminder.attempts) == ("pending", 1)
        assert reminder.not_before == NOW + timedelta(minutes=1)
        assert dispatch_at(NOW + timedelta(seconds=30)) == {"claimed": 0}  # backing off
        dispatch_at(NOW + timedelta(minutes=1))
        dispatch_at(NOW + timedelta(minutes=6))
        reminder.refresh_from_db()
        assert (reminder.state, reminder.attempts) == ("failed", 3)
        assert "SMS gateway unreachable" in reminder.status_note
        assert [d.succeeded for d in reminder.deliveries.all()] == [False, False, False]

        settings.SMS_BACKEND = "reminders.channels.LocmemSmsBackend"
        reminder_services.resend(reminder, by="reception", now=NOW + timedelta(hours=1))
        dispatch_at(NOW + timedelta(hours=1))
        reminder.refresh_from_db()
        assert reminder.state == "sent" and len(LocmemSmsBackend.outbox) == 1

    def test_resend_refuses_what_is_no_longer_relevant(self, settings):
        settings.SMS_BACKEND = "tests.backends.FailingSmsBackend"
        settings.REMINDER_MAX_ATTEMPTS = 1
        book(PatientFactory(reminders_by_sms=True, reminders_by_email=False), date(2027, 3, 10))
        dispatch_at(NOW)
        reminder = Reminder.objects.get(kind="booking_confirmation", state="failed")
        with pytest.raises(ValidationError) as exc:
            reminder_services.resend(reminder, by="reception", now=at(date(2027, 3, 11)))
        assert exc.value.code == "reminder_expired"


class TestLeases:
    def test_a_leased_batch_is_not_claimed_twice_until_the_lease_runs_out(self, settings):
        settings.REMINDER_LEASE_SECONDS = 300
        book(day=date(2027, 3, 10))
        book(day=date(2027, 3, 11))
        _, first = delivery.claim_batch(now=NOW, size=10)
        assert len(first) == 2
        assert delivery.claim_batch(now=NOW + timedelta(seconds=299), size=10)[1] == []
        # The worker holding them died: after the lease they are claimed again.
        token, again = delivery.claim_batch(now=NOW + timedelta(seconds=301), size=10)
        assert {r.pk for r in again} == {r.pk for r in first}
        with time_machine.travel(NOW + timedelta(seconds=302), tick=False):
            # The dead worker's token no longer delivers anything...
            assert delivery.deliver(first[0], token=first[0].lease_token, worker="dead") == ""
            # ...the live one's does.
            assert delivery.deliver(again[0], token=token, worker="alive") == "sent"
        assert len(mail.outbox) == 1

    def test_the_batch_is_what_the_orm_reads_with_everything_its_messages_name(
        self, django_assert_num_queries
    ):
        """The batch is read by its lease with a statement compiled once (delivery._LEASED):
        the rows, oldest due first, every field as the ORM reads it, with the related rows
        the messages name already loaded; never another lease's rows."""
        sessions = [book(day=date(2027, 3, d)) for d in (10, 11, 12)]
        _, batch = delivery.claim_batch(now=NOW, size=2)
        _, rest = delivery.claim_batch(now=NOW, size=10)
        assert (len(batch), len(rest)) == (2, 1)
        got = {r.pk: r for r in batch + rest}
        expected = {
            r.pk: r
            for r in Reminder.objects.filter(
                session__in=sessions, not_before__lte=NOW
            ).select_related("session__patient", "session__site")
        }
        assert got.keys() == expected.keys()
        assert [r.not_before for r in batch] == sorted(r.not_before for r in batch)
        fields = [f.attname for f in Reminder._meta.concrete_fields]
        with django_assert_num_queries(0):  # nothing left to read
            for pk, reminder in got.items():
                want = expected[pk]
                assert [getattr(reminder, f) for f in fields] == [getattr(want, f) for f in fields]
                assert reminder.session.patient.email == want.session.patient.email
                assert reminder.session.site.name == want.session.site.name
                assert reminder.session.protocol_id == want.session.protocol_id
        token = batch[0].lease_token
        with django_assert_num_queries(1):  # the compiled statement, run again
            again = delivery._LEASED.all(token)
        assert [r.pk for r in again] == [r.pk for r in batch]
        assert delivery._LEASED.all(uuid.uuid4()) == []

    def test_withdrawn_while_leased_is_not_sent(self):
        session = book(day=date(2027, 3, 10))
        token, batch = delivery.claim_batch(now=NOW, size=10)
        services.cancel_session(
            session=session, reason="ill", cancelled_by=session.booked_by, now=NOW
        )
        with time_machine.travel(NOW, tick=False):
            assert delivery.deliver(batch[0], token=token, worker="w") == ""
        assert mail.outbox == []

    def test_withdrawn_while_on_its_way_is_recorded_as_sent_with_a_note(self, settings):
        """The check passed, then staff cancelled while the message was with the provider:
        the record says what happened (sent, with why it was withdrawn), once, and logs it."""
        settings.EMAIL_BACKEND = "tests.backends.CallbackEmailBackend"
        cancelled = book(day=date(2027, 3, 10))
        kept = book(day=date(2027, 3, 11))
        token, batch = delivery.claim_batch(now=NOW, size=10)
        by_session = {r.session_id: r for r in batch if r.kind == "booking_confirmation"}

        def cancel_during_send(message):
            if message.to == [cancelled.patient.email]:
                services.cancel_session(
                    session=cancelled, reason="ill", cancelled_by=cancelled.booked_by, now=NOW
                )

        CallbackEmailBackend.during_send = cancel_during_send
        with time_machine.travel(NOW, tick=False):
            for session in (cancelled, kept):
                assert delivery.deliver(by_session[session.pk], token=token, worker="w") == "sent"
        for session, note in ((cancelled, delivery.IN_FLIGHT_NOTE), (kept, "")):
            row = Reminder.objects.get(pk=by_session[session.pk].pk)
            assert (row.state, row.status_note, row.sent_at) == (ReminderState.SENT, note, NOW)
            assert (row.lease_token, row.leased_until) == (None, None)
            assert [(a.succeeded, a.worker) for a in row.deliveries.all()] == [(True, "w")]
        # The session's other reminders stay withdrawn (only the one on its way was sent);
        # the cancellation notice waits for its turn.
        states = {r.kind: r.state for r in Reminder.objects.filter(session=cancelled)}
        assert states.pop("booking_confirmation") == ReminderState.SENT
        assert states.pop("cancellation") == ReminderState.PENDING
        assert set(states.values()) == {ReminderState.WITHDRAWN}
        assert len(mail.outbox) == 2


def synchronous_commit() -> str:
    """The setting the current transaction (or statement) of this thread's connection
    commits with: 'off' does not wait for the disk."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")  # a flushed database has no protocol, no roles
class TestDurability:
    def test_only_the_record_of_a_send_waits_for_the_disk(self, monkeypatch):
        """The claim and the check commit without waiting for the disk (losing them in a
        server crash loses nothing); the record of a send is durable: it runs in autocommit
        with synchronous_commit on. Asserted as the database sees it within each step."""
        book(day=date(2027, 3, 10))
        seen = {}

        def in_statement(execute, sql, params, many, context):
            """Each dispatcher statement that writes, run with the setting it commits with
            returned beside its own result (the statement's own transaction is what the
            setting governs)."""
            if sql.lstrip().upper().startswith("UPDATE") and "RETURNING" in sql:
                probe = f"WITH step AS ({sql}) SELECT current_setting('synchronous_commit')"
                # Re-run as a probe first, in a transaction undone at once: the same WHERE,
                # so the same set_config, evaluated where the step evaluates it.
                with transaction.atomic():
                    execute(probe + " FROM step LIMIT 1", params, many, context)
                    row = context["cursor"].fetchone()
                    transaction.set_rollback(True)
                kind = "claim" if "leased_until = %(lease)s" in sql else "check"
                seen.setdefault(kind, set()).add(row[0] if row else None)
            return execute(sql, params, many, context)

        record = delivery._record_sent

        def recorded(*args, **kwargs):
            seen["record"] = (synchronous_commit(), connection.in_atomic_block)
            return record(*args, **kwargs)

        monkeypatch.setattr(delivery, "_record_sent", recorded)
        with connection.execute_wrapper(in_statement), time_machine.travel(NOW, tick=False):
            counts = delivery.dispatch_due()
        assert counts == {"claimed": 1, "sent": 1}
        assert seen["claim"] - {None} == {"off"}  # each claim that leased a row
        assert seen["check"] == {"off"}
        assert seen["record"] == ("on", False)  # its own statement, durable
        assert synchronous_commit() == "on"  # nothing lingers on the connection
        assert Reminder.objects.get(kind="booking_confirmation").state == ReminderState.SENT

    def test_a_send_waits_until_the_previous_send_is_recorded(self, settings):
        """The record of a send is written beside the next message's rendering, never after
        the next hand-over: at any moment at most one message is with the provider and not
        yet durably recorded, as when each record was awaited (README, "Exactly once")."""
        for day in (10, 11, 12):
            book(day=date(2027, 3, day))
        settings.EMAIL_BACKEND = "tests.backends.CallbackEmailBackend"
        handed = []
        unrecorded = []

        def during_send(message):
            other = psycopg2.connect(_dsn())
            try:
                with other.cursor() as cursor:
                    cursor.execute(
                        f"SELECT count(*) FROM {Reminder._meta.db_table}"  # noqa: S608
                        " WHERE id = ANY(%s::bigint[]) AND state <> 'sent'",
                        [handed],
                    )
                    unrecorded.append(cursor.fetchone()[0])
            finally:
                other.close()
            handed.append(int(message.extra_headers["X-Clinic-Reminder"]))

        CallbackEmailBackend.during_send = staticmethod(during_send)
        try:
            with time_machine.travel(NOW, tick=False):
                assert delivery.dispatch_due()["sent"] == 3
        finally:
            CallbackEmailBackend.during_send = staticmethod(lambda message: None)
        assert unrecorded == [0, 0, 0]
        sent = Reminder.objects.filter(pk__in=handed, state=ReminderState.SENT)
        assert sent.count() == 3
        assert DeliveryAttempt.objects.filter(succeeded=True).count() == 3


def _dsn() -> str:
    s = connection.settings_dict
    return (
        f"dbname={s['NAME']} user={s['USER']} host={s['HOST'] or '127.0.0.1'}"
        f" port={s['PORT'] or 5432}"
    )


class TestTheClinicsClock:
    """Patients travel to the clinic: the appointment time they read is the clinic's, named,
    with their own time second where it differs; the NSAID days stay on their calendar."""

    def test_a_new_york_patient_reads_berlin_time_first_by_email_and_sms(self, frozen):
        patient = PatientFactory(
            time_zone="America/New_York", reminders_by_sms=True, phone="+1 212 555 0100"
        )
        book(patient, date(2027, 3, 10), hour=16)
        dispatch_at(at(NOW.date(), 20))  # 14:00 in New York: outside their quiet hours
        [email] = mail.outbox
        when = "Wednesday 10 March 2027 at 16:00 Berlin time (10:00 your time in New York)"
        assert when in email.body
        assert "Berlin time" in email.alternatives[0][0]
        # New York's calendar: the session is on the 10th there too, so 7 to 31 March.
        assert "From Sunday 7 March 2027 until Wednesday 31 March 2027" in email.body
        [sms] = LocmemSmsBackend.outbox
        # The SMS says the same in fewer characters (one segment, tests/test_sms_length.py).
        assert "Wed 10 Mar, 16:00 Berlin (10:00 in New York)" in sms["body"]

    def test_the_patients_day_is_named_when_it_differs(self, frozen):
        patient = PatientFactory(time_zone="Pacific/Kiritimati")  # UTC+14
        book(patient, date(2027, 3, 10), hour=16)
        dispatch_at(at(NOW.date(), 20))  # 09:00 the next morning in Kiritimati
        assert "16:00 Berlin time (Thursday 05:00 your time in Kiritimati)" in mail.outbox[0].body


class TestPortalLinks:
    def test_a_patient_without_portal_access_gets_no_portal_link(self, frozen, settings):
        settings.SMS_BACKEND = "reminders.channels.LocmemSmsBackend"
        patient = PatientFactory(reminders_by_sms=True, phone="+49 170 5550101")
        assert patient.user_id is None
        book(patient, date(2027, 3, 10))
        dispatch_at(NOW)
        [email] = mail.outbox
        assert settings.SITE_URL not in email.body
        assert settings.SITE_URL not in email.alternatives[0][0]
        assert "Open your patient page" not in email.alternatives[0][0]
        assert settings.SITE_URL not in LocmemSmsBackend.outbox[0]["body"]

    def test_a_patient_with_portal_access_gets_the_link(self, frozen, settings):
        from patients.invitations import invite_patient

        patient = PatientFactory()
        invite_patient(patient=patient)
        mail.outbox.clear()
        book(patient, date(2027, 3, 10))
        dispatch_at(NOW)
        assert settings.SITE_URL in mail.outbox[0].body
