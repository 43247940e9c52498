"""Lots: stock never below zero (also under concurrency), quarantine, and the recall that
reaches every patient once."""

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from accounts import roles
from reminders import services as reminder_services
from reminders.models import Reminder, ReminderKind, ReminderState
from reminders.selectors import recall_report
from tests.factories import (
    PatientFactory,
    ProductLotFactory,
    RoomFactory,
    UserFactory,
    at,
    book,
    clinician,
)
from treatments import rules, services
from treatments.models import (
    LotStatus,
    LotStatusChange,
    LotWriteOff,
    ProductLot,
    Recall,
    RecallContact,
    RecallRecipient,
    SessionStatus,
    SessionVial,
    TreatmentSession,
)

DAY = date(2026, 10, 1)


def past_session(**kwargs):
    """A session held on 1 October 2026, booked ahead, ready to be completed."""
    return book(day=DAY, now=at(date(2026, 9, 20)), **kwargs)


def complete(session, lot, vials=1):
    return services.complete_session(
        session=session, vials=[(lot, vials)], completed_by=session.clinician, now=session.ends_at
    )


def admin():
    return UserFactory(role=roles.CLINIC_ADMIN)


def code_of(exc_info) -> str:
    return exc_info.value.code


# --- Stock --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_completion_and_write_off_take_from_stock_never_below_zero():
    lot = ProductLotFactory(vials_received=3)
    complete(past_session(), lot, vials=2)
    lot.refresh_from_db()
    assert (lot.vials_consumed, lot.vials_on_hand) == (2, 1)

    with pytest.raises(ValidationError) as refused:
        complete(past_session(), lot, vials=2)
    assert code_of(refused) == "out_of_stock" and "1 vial(s) on hand" in refused.value.message % (
        refused.value.params
    )

    doctor = clinician()
    with pytest.raises(ValidationError) as refused:
        services.write_off_vials(lot=lot, vials=2, reason="dropped", actor=doctor)
    assert code_of(refused) == "out_of_stock"
    services.write_off_vials(lot=lot, vials=1, reason="dropped on the floor", actor=doctor)
    lot.refresh_from_db()
    assert lot.vials_on_hand == 0
    assert LotWriteOff.objects.get(lot=lot).recorded_by == doctor


@pytest.mark.django_db
def test_write_off_needs_reason_and_permission():
    lot = ProductLotFactory()
    with pytest.raises(ValidationError) as refused:
        services.write_off_vials(lot=lot, vials=1, reason="  ", actor=clinician())
    assert code_of(refused) == "reason_required"
    with pytest.raises(PermissionDenied):
        services.write_off_vials(
            lot=lot, vials=1, reason="x", actor=UserFactory(role=roles.CLINIC_STAFF)
        )


@pytest.mark.django_db
def test_the_database_refuses_stock_below_zero_and_rewritten_write_offs():
    lot = ProductLotFactory(vials_received=2)
    with pytest.raises(IntegrityError, match="lot_stock_not_negative"), transaction.atomic():
        ProductLot.objects.filter(pk=lot.pk).update(vials_consumed=3)
    row = services.write_off_vials(lot=lot, vials=1, reason="broken", actor=clinician())
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LotWriteOff.objects.filter(pk=row.pk).update(vials=2)


@pytest.mark.django_db
def test_an_amendment_moves_the_stock_with_the_record(frozen):
    first, second = ProductLotFactory(vials_received=5), ProductLotFactory(vials_received=5)
    session = complete(past_session(), first, vials=2)
    services.amend_session_record(
        session=session,
        amended_by=session.clinician,
        reason="Wrong lot noted",
        expected_version=session.record_version,
        notes=session.notes,
        side_effects=session.side_effects,
        vials=[(second, 3)],
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.vials_on_hand, second.vials_on_hand) == (5, 2)


@pytest.mark.django_db
def test_a_record_keeping_a_since_recalled_lot_can_still_be_amended(frozen):
    lot = ProductLotFactory(vials_received=5)
    session = complete(past_session(), lot, vials=1)
    reminder_services.start_recall(lot=lot, message="{lot} recalled", actor=admin())
    args = dict(
        session=session,
        amended_by=session.clinician,
        reason="Side effect reported later",
        notes=session.notes,
        side_effects="Mild redness for two days",
    )
    amended = services.amend_session_record(
        expected_version=session.record_version, vials=[(lot, 1)], **args
    )
    assert amended.side_effects == "Mild redness for two days"
    with pytest.raises(ValidationError) as refused:  # but no vial more of it
        services.amend_session_record(
            expected_version=amended.record_version, vials=[(lot, 2)], **args
        )
    assert code_of(refused) == "lot_not_usable"


# --- Quarantine -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_held_lot_is_refused_and_offered_nowhere_until_released():
    lot = ProductLotFactory()
    boss = admin()
    services.hold_lot(lot=lot, reason="Supplier warning", actor=boss)
    assert lot not in ProductLot.objects.usable_on(DAY)
    with pytest.raises(ValidationError) as refused:
        complete(past_session(), lot)
    assert code_of(refused) == "lot_not_usable"
    assert "on hold (Supplier warning)" in refused.value.message % refused.value.params

    services.release_lot(lot=lot, reason="Supplier all-clear", actor=boss)
    assert lot in ProductLot.objects.usable_on(DAY)
    assert complete(past_session(), lot).status == SessionStatus.COMPLETED
    assert list(LotStatusChange.objects.filter(lot=lot).values_list("status", "changed_by")) == [
        (LotStatus.ON_HOLD, boss.pk),
        (LotStatus.RELEASED, boss.pk),
    ]


@pytest.mark.django_db
def test_hold_is_for_admins_and_a_recalled_lot_is_never_released():
    lot = ProductLotFactory()
    with pytest.raises(PermissionDenied):
        services.hold_lot(lot=lot, reason="x", actor=clinician())
    boss = admin()
    reminder_services.start_recall(lot=lot, message="Lot {lot} recalled", actor=boss)
    with pytest.raises(ValidationError) as refused:
        services.release_lot(lot=lot, reason="oops", actor=boss)
    assert code_of(refused) == "invalid_status"
    with pytest.raises(ValidationError) as refused:
        complete(past_session(), lot)
    assert "recalled" in refused.value.message % refused.value.params


# --- Recall -------------------------------------------------------------------------------


def recipients(lot, count, *, sms_every=2, opted_out=False):
    """`count` patients, each given 1 vial of the lot on a completed session of their own
    (straight into the tables: the set-up, not the rule under test); every `sms_every`-th
    patient chose SMS only, the others email only."""
    doctor, room = clinician(), RoomFactory()
    base = past_session()  # a session booked through the service, for its protocol
    patients = [
        PatientFactory(
            consents=False,
            intake=False,
            reminders_by_sms=i % sms_every == 0,
            reminders_by_email=i % sms_every != 0,
            non_essential_opt_out=opted_out,
        )
        for i in range(count)
    ]
    sessions = TreatmentSession.objects.bulk_create(
        TreatmentSession(
            patient=p,
            starts_at=at(date(2025, 1, 1) + timedelta(days=i)),
            ends_at=at(date(2025, 1, 1) + timedelta(days=i), 11),
            clinician=doctor,
            room=room,
            protocol=base.protocol,
            gap_months=6,
            local_date=date(2025, 1, 1) + timedelta(days=i),
            gap_until=rules.add_months(date(2025, 1, 1) + timedelta(days=i), 6),
            booked_by=doctor,
            status=SessionStatus.COMPLETED,
            completed_at=at(date(2025, 1, 1) + timedelta(days=i), 11),
            completed_by=doctor,
        )
        for i, p in enumerate(patients)
    )
    SessionVial.objects.bulk_create(SessionVial(session=s, lot=lot, vials=1) for s in sessions)
    return patients


@pytest.mark.django_db
def test_a_recall_of_500_patients_makes_500_notices_once_and_the_report_counts_match():
    lot = ProductLotFactory(vials_received=600, product_name="ExoHair 400", lot_number="L-42")
    patients = recipients(lot, 500, opted_out=True)  # essential: opted out still get it
    boss = admin()
    recall = reminder_services.start_recall(
        lot=lot, message="{product} lot {lot} is recalled by its maker.", actor=boss
    )
    notices = Reminder.objects.filter(kind=ReminderKind.RECALL)
    assert notices.count() == 500
    assert notices.filter(channel="sms").count() == 250
    assert set(notices.values_list("session__patient", flat=True)) == {p.pk for p in patients}
    assert recall.text == "ExoHair 400 lot L-42 is recalled by its maker."
    lot.refresh_from_db()
    assert lot.status == LotStatus.RECALLED

    again = reminder_services.start_recall(lot=lot, message="Another text", actor=boss)
    assert again.pk == recall.pk and again.text == recall.text
    assert notices.count() == 500 and Recall.objects.count() == 1

    # What the outbox and staff record shows up in the report.
    sent, failed = notices.order_by("id")[:10], notices.order_by("id")[10:13]
    Reminder.objects.filter(pk__in=[r.pk for r in sent]).update(
        state=ReminderState.SENT, sent_at=recall.started_at
    )
    Reminder.objects.filter(pk__in=[r.pk for r in failed]).update(state=ReminderState.FAILED)
    staff = UserFactory(role=roles.CLINIC_STAFF)
    rows = RecallRecipient.objects.filter(recall=recall).order_by("id")
    failed_recipients = {r.recall_recipient_id for r in failed}
    phoned = [r for r in rows if r.pk in failed_recipients][:2]
    for row in phoned:
        services.record_recall_contact(
            recipient=row, contact=RecallContact.PHONED, note="spoke to her", actor=staff
        )
    services.record_recall_contact(
        recipient=rows[400], contact=RecallContact.UNREACHABLE, note="no answer x3", actor=staff
    )
    report_rows, counts = recall_report(recall)
    assert counts == {
        "recipients": 500,
        "sent": 10,
        "failed": 3,
        "phoned": 2,
        "unreachable": 1,
        "not_reached": 500 - 10 - 2,
    }
    assert len(report_rows) == 500
    first = next(r for r in report_rows if r.recipient.patient_id == patients[0].pk)
    assert first.recipient.sessions == [
        {
            "date": "2025-01-01",
            "vials": 1,
            "clinician": first.recipient.session.clinician.get_full_name()
            or first.recipient.session.clinician.username,
        }
    ]


@pytest.mark.django_db
def test_recall_is_for_admins_and_the_message_takes_only_its_placeholders():
    lot = ProductLotFactory()
    with pytest.raises(PermissionDenied):
        reminder_services.start_recall(lot=lot, message="Recalled", actor=clinician())
    for bad in ("", "Lot {lot.__class__}", "Dear {name}", "unclosed {"):
        with pytest.raises(ValidationError) as refused:
            reminder_services.start_recall(lot=lot, message=bad, actor=admin())
        assert code_of(refused) == "invalid_message"
    assert not Recall.objects.exists()
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE


@pytest.mark.django_db
def test_a_recall_notice_renders_the_admins_text_and_the_sessions():
    from reminders import channels

    lot = ProductLotFactory(product_name="ExoHair 400", lot_number="L-7")
    recipients(lot, 2)
    reminder_services.start_recall(
        lot=lot, message="{product} {lot}: stop using it.", actor=admin()
    )
    for notice in Reminder.objects.filter(kind=ReminderKind.RECALL):
        if notice.channel == "email":
            email = channels.render_email(notice)
            assert "ExoHair 400 L-7: stop using it." in email.text
            assert "2 January 2025: 1 vial(s), with" in email.text, email.text
        else:
            assert "ExoHair 400 L-7: stop using it." in channels.render_sms(notice)


# --- Under concurrency (real PostgreSQL, one connection per thread) --------------------------


def run_at_once(fns):
    barrier = threading.Barrier(len(fns))
    outcomes = [None] * len(fns)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            fns[i]()
            outcomes[i] = "ok"
        except ValidationError as exc:
            outcomes[i] = exc.code
        except Exception as exc:  # anything else is a bug the test must show
            outcomes[i] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_concurrent_completions_never_drive_stock_below_zero():
    lot = ProductLotFactory(vials_received=3)
    sessions = [past_session() for _ in range(8)]
    writer = clinician()
    fns = [lambda s=s: complete(s, lot) for s in sessions]
    fns.append(lambda: services.write_off_vials(lot=lot, vials=1, reason="broken", actor=writer))
    outcomes = run_at_once(fns)
    assert sorted(outcomes) == ["ok"] * 3 + ["out_of_stock"] * 6, outcomes
    lot.refresh_from_db()
    assert lot.vials_on_hand == 0
    used = sum(
        SessionVial.objects.filter(lot=lot, session__status=SessionStatus.COMPLETED).values_list(
            "vials", flat=True
        )
    )
    assert used + sum(LotWriteOff.objects.values_list("vials", flat=True)) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_a_recall_started_from_two_browsers_at_once_notifies_each_patient_once():
    lot = ProductLotFactory(vials_received=100)
    recipients(lot, 20)
    first, second = admin(), admin()
    outcomes = run_at_once(
        [
            lambda: reminder_services.start_recall(lot=lot, message="{lot} recalled", actor=first),
            lambda: reminder_services.start_recall(lot=lot, message="{lot} recalled", actor=second),
        ]
    )
    assert outcomes == ["ok", "ok"]
    assert Recall.objects.count() == 1
    assert RecallRecipient.objects.count() == 20
    assert Reminder.objects.filter(kind=ReminderKind.RECALL).count() == 20
