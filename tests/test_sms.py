"""Issue 17: SMS through Twilio (against a local fake server, never the network), delivery
status callbacks, replies (STOP / START / C and the front desk's inbox), the message log,
and phone numbers checked in the patient's country."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import pgettext
from twilio.request_validator import RequestValidator

from accounts import prepared
from patients.models import Patient, PatientEvent
from patients.phones import migrate_phone_numbers
from patients.selectors import phones_to_fix
from patients.services import register_patient
from reminders import delivery
from reminders import selectors as reminder_selectors
from reminders.models import (
    Channel,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryStatusEvent,
    InboundKind,
    InboundMessage,
    Reminder,
    ReminderKind,
    ReminderState,
)
from tests.factories import NOW, PatientFactory, book
from tests.faketwilio import FakeTwilio, error
from ui.rows import day_month_time, day_time, staff_said

pytestmark = pytest.mark.django_db

SID = "AC" + "a" * 32
TOKEN = "twilio-auth-token"
PUBLIC = "https://clinic.example.test"
FROM = "+15005550006"


@pytest.fixture
def twilio(settings):
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        settings.SMS_BACKEND = "reminders.twilio.TwilioSmsBackend"
        settings.TWILIO_ACCOUNT_SID = SID
        settings.TWILIO_AUTH_TOKEN = TOKEN
        settings.TWILIO_FROM = FROM
        settings.TWILIO_API_BASE = fake.url
        settings.PUBLIC_BASE_URL = PUBLIC
        settings.SMS_TIMEOUT = 1
        yield fake


def sms_patient(**kwargs):
    return PatientFactory(reminders_by_sms=True, reminders_by_email=False, **kwargs)


def dispatch(when=NOW):
    with time_machine.travel(when, tick=False):
        return delivery.dispatch_due()


def sent_confirmation(patient):
    session = book(patient, date(2027, 3, 10))
    dispatch()
    return session, Reminder.objects.get(
        session=session, kind="booking_confirmation", channel="sms"
    )


def signed_post(client, name, params, *, token=TOKEN):
    path = reverse(name)
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status_payload(reminder, status, error_code=""):
    """What Twilio posts to a StatusCallback (its documented fields)."""
    payload = {
        "AccountSid": SID,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "MessageSid": reminder.provider_message_id,
        "MessageStatus": status,
        "SmsSid": reminder.provider_message_id,
        "SmsStatus": status,
        "To": "+491701234567",
    }
    if error_code:
        payload["ErrorCode"] = error_code
    return payload


def inbound_payload(body, *, from_number="+491701234567", n=1):
    return {
        "AccountSid": SID,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": from_number,
        "MessageSid": f"SM{n:032x}",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": f"SM{n:032x}",
        "SmsSid": f"SM{n:032x}",
        "SmsStatus": "received",
        "To": FROM,
    }


# --- Sending through Twilio -------------------------------------------------------------------


def test_a_reminder_goes_to_twilio_and_keeps_its_sid(twilio):
    patient = sms_patient(phone="0170 1234567")
    _, reminder = sent_confirmation(patient)
    assert reminder.state == ReminderState.SENT
    [request] = twilio.requests
    assert request["To"] == "+491701234567"  # E.164, read in the patient's country
    assert request["From"] == FROM
    assert request["StatusCallback"] == PUBLIC + reverse("sms_status_callback")
    assert reminder.provider_message_id.startswith("SM")
    assert reminder.deliveries.get().provider_message_id == reminder.provider_message_id


@pytest.mark.parametrize("code", [21211, 21610, 21614])
def test_a_permanent_refusal_fails_at_once(twilio, code):
    twilio.answers["+491701234567"] = error(400, code, "refused")
    _, reminder = sent_confirmation(sms_patient())
    assert reminder.state == ReminderState.FAILED
    assert reminder.attempts == 1
    assert str(code) in reminder.status_note


@pytest.mark.parametrize(
    "answer", [error(500, 20500, "Internal Server Error"), error(429, 20429, "Too Many Requests")]
)
def test_a_temporary_failure_backs_off(twilio, answer):
    twilio.answers["+491701234567"] = answer
    _, reminder = sent_confirmation(sms_patient())
    assert reminder.state == ReminderState.PENDING
    assert reminder.attempts == 1
    assert reminder.not_before == NOW + timedelta(seconds=delivery.BACKOFF_SECONDS[0])


def test_a_hung_provider_times_out_and_backs_off(twilio):
    twilio.delay = 3  # longer than SMS_TIMEOUT (1 s)
    _, reminder = sent_confirmation(sms_patient())
    assert reminder.state == ReminderState.PENDING
    assert reminder.attempts == 1
    assert "Timeout" in reminder.status_note or "timed out" in reminder.status_note


# --- Delivery status callbacks ----------------------------------------------------------------


def test_delivered_callback_marks_the_reminder_delivered(twilio, client):
    _, reminder = sent_confirmation(sms_patient())
    response = signed_post(client, "sms_status_callback", status_payload(reminder, "delivered"))
    assert response.status_code == 204
    reminder.refresh_from_db()
    assert reminder.delivery_status == "delivered"
    assert reminder.delivered_at is not None
    assert reminder.state == ReminderState.SENT


def test_a_replayed_callback_changes_nothing(twilio, client):
    _, reminder = sent_confirmation(sms_patient())
    payload = status_payload(reminder, "delivered")
    signed_post(client, "sms_status_callback", payload)
    reminder.refresh_from_db()
    first = (reminder.delivery_status, reminder.delivered_at, reminder.updated_at)
    for _ in range(2):
        assert signed_post(client, "sms_status_callback", payload).status_code == 204
    reminder.refresh_from_db()
    assert (reminder.delivery_status, reminder.delivered_at, reminder.updated_at) == first
    assert DeliveryStatusEvent.objects.filter(message_sid=reminder.provider_message_id).count() == 1
    # A late "sent" never undoes "delivered".
    signed_post(client, "sms_status_callback", status_payload(reminder, "sent"))
    reminder.refresh_from_db()
    assert reminder.delivery_status == "delivered"


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_a_failed_delivery_marks_the_reminder_failed(twilio, client, status):
    _, reminder = sent_confirmation(sms_patient())
    signed_post(client, "sms_status_callback", status_payload(reminder, status, error_code="30003"))
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.FAILED
    assert reminder.delivery_status == status
    assert "30003" in reminder.status_note


@pytest.mark.parametrize("signature", ["", "forged", None])
def test_a_forged_callback_is_refused_and_changes_nothing(twilio, client, signature):
    _, reminder = sent_confirmation(sms_patient())
    payload = status_payload(reminder, "failed")
    path = reverse("sms_status_callback")
    if signature is None:  # signed with another account's token
        response = signed_post(client, "sms_status_callback", payload, token="not-the-token")
    else:
        response = client.post(path, payload, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.SENT and reminder.delivery_status == ""
    assert not DeliveryStatusEvent.objects.exists()


def test_a_signature_over_other_fields_is_refused(twilio, client):
    _, reminder = sent_confirmation(sms_patient())
    path = reverse("sms_status_callback")
    signature = RequestValidator(TOKEN).compute_signature(
        PUBLIC + path, status_payload(reminder, "delivered")
    )
    response = client.post(
        path, status_payload(reminder, "failed"), HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.SENT


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"MessageSid": "x" * 5000, "MessageStatus": "delivered"},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "<script>"},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "ErrorCode": "abc"},
    ],
)
def test_junk_is_a_400_never_a_500(twilio, client, payload):
    assert signed_post(client, "sms_status_callback", payload).status_code == 400
    assert signed_post(client, "sms_inbound", payload).status_code == 400


def test_an_unknown_message_id_is_noted_and_nothing_else(twilio, client):
    payload = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    assert signed_post(client, "sms_status_callback", payload).status_code == 204
    assert DeliveryStatusEvent.objects.get().reminder is None


def test_webhooks_answer_post_only(client):
    assert client.get(reverse("sms_status_callback")).status_code == 405
    assert client.get(reverse("sms_inbound")).status_code == 405


# --- Replies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["STOP", "stop", "Stopp", "DUR", "UNSUBSCRIBE", "quit."])
def test_stop_turns_sms_off_and_withdraws_planned_ones(twilio, client, word):
    patient = sms_patient()
    session = book(patient, date(2027, 3, 10))
    planned = Reminder.objects.filter(session=session, channel="sms", state="pending")
    assert planned.count() >= 3
    response = signed_post(client, "sms_inbound", inbound_payload(word))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Message>" in response.content and b"START" in response.content
    patient.refresh_from_db()
    assert not patient.reminders_by_sms
    withdrawn = Reminder.objects.filter(session=session, channel="sms")
    assert {r.state for r in withdrawn} == {ReminderState.WITHDRAWN}
    # With the reason, on each withdrawn SMS and in the record's history of the change.
    reason = f"the patient replied {word.strip().upper()!r} by SMS"
    assert {r.status_note for r in withdrawn} == {f"withdrawn: {reason}"}
    change = PatientEvent.objects.filter(pgh_obj_id=patient.pk).latest("pgh_id")
    assert not change.reminders_by_sms and change.pgh_context["reason"] == reason
    # Days later, when every one of them was due: no SMS at all.
    for day in (NOW, NOW + timedelta(days=60), NOW + timedelta(days=66)):
        dispatch(day)
    assert twilio.requests == []
    message = InboundMessage.objects.get()
    assert message.patient == patient and message.kind == "opt_out"


def test_start_turns_sms_back_on(twilio, client):
    patient = sms_patient()
    signed_post(client, "sms_inbound", inbound_payload("STOP", n=1))
    response = signed_post(client, "sms_inbound", inbound_payload("START", n=2))
    assert b"on again" in response.content
    patient.refresh_from_db()
    assert patient.reminders_by_sms


def test_c_confirms_the_next_session_shown_on_the_schedule(twilio, client, staff_client):
    patient = sms_patient()
    session = book(patient, date(2027, 3, 10))
    with time_machine.travel(NOW, tick=False):
        response = signed_post(client, "sms_inbound", inbound_payload("C"))
    assert b"confirmed" in response.content
    session.refresh_from_db()
    assert session.confirmed_by_patient_at == NOW
    page = staff_client.get(reverse("schedule") + "?day=2027-03-10")
    assert b"Confirmed by the patient (SMS)" in page.content


def test_a_reply_is_processed_once(twilio, client):
    sms_patient()
    signed_post(client, "sms_inbound", inbound_payload("Can I come at 11?"))
    response = signed_post(client, "sms_inbound", inbound_payload("Can I come at 11?"))
    assert response.status_code == 200
    assert InboundMessage.objects.count() == 1


def test_an_unknown_number_is_stored_unlinked(twilio, client):
    sms_patient()  # +491701234567
    signed_post(client, "sms_inbound", inbound_payload("STOP", from_number="+491709999999"))
    message = InboundMessage.objects.get()
    assert message.patient is None and message.kind == "message"
    assert Patient.objects.get().reminders_by_sms  # nobody's SMS turned off by a guess


def test_a_number_two_patients_share_links_to_neither(twilio, client):
    sms_patient()
    sms_patient()
    signed_post(client, "sms_inbound", inbound_payload("STOP"))
    assert InboundMessage.objects.get().patient is None
    assert Patient.objects.filter(reminders_by_sms=True).count() == 2


def test_a_forged_reply_is_refused(twilio, client):
    patient = sms_patient()
    response = client.post(reverse("sms_inbound"), inbound_payload("STOP"))
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.reminders_by_sms and not InboundMessage.objects.exists()


def test_the_inbox_shows_the_unread_count_and_marks_read(twilio, client, staff_client):
    patient = sms_patient()
    signed_post(client, "sms_inbound", inbound_payload("Running 10 minutes late"))
    page = staff_client.get(reverse("schedule"))
    assert b"Inbox <span" in page.content
    inbox = staff_client.get(reverse("inbox"))
    assert b"Running 10 minutes late" in inbox.content and patient.full_name.encode() in (
        inbox.content
    )
    message = InboundMessage.objects.get()
    staff_client.post(reverse("inbox_mark_read", args=[message.pk]))
    message.refresh_from_db()
    assert message.read_at is not None
    assert b"Inbox <span" not in staff_client.get(reverse("schedule")).content


# --- The message log --------------------------------------------------------------------------


def test_the_message_log_lists_both_directions_at_a_fixed_cost(
    twilio, client, staff_client, django_assert_max_num_queries
):
    patient = sms_patient()
    _, reminder = sent_confirmation(patient)
    signed_post(client, "sms_status_callback", status_payload(reminder, "delivered"))
    signed_post(client, "sms_inbound", inbound_payload("Thanks!"))
    url = reverse("message_log", args=[patient.pk])
    with django_assert_max_num_queries(MESSAGE_LOG_QUERIES):
        page = staff_client.get(url)
    assert reminder.provider_message_id.encode() in page.content
    assert b"Delivered" in page.content and b"Thanks!" in page.content
    for n in range(2, 40):
        signed_post(client, "sms_inbound", inbound_payload(f"Message {n}", n=n))
    with django_assert_max_num_queries(MESSAGE_LOG_QUERIES):
        page = staff_client.get(url + "?page=2")
    assert page.status_code == 200 and b"Previous" in page.content


MESSAGE_LOG_QUERIES = 9


def test_the_message_log_escapes_what_patients_and_providers_wrote(twilio, staff_client):
    """The log's rows are written in the view (messages._log_rows): an SMS's text and its
    outcome, a provider's error and id are escaped; the read time and attempts are there."""
    patient = sms_patient()
    _, reminder = sent_confirmation(patient)
    Reminder.objects.filter(pk=reminder.pk).update(provider_message_id="SM<1>")
    DeliveryAttempt.objects.create(
        reminder=reminder, attempted_at=NOW, succeeded=False, error="<b>Busy</b> & " + "y" * 50
    )
    InboundMessage.objects.create(
        provider_message_id="SM<in>",
        from_number=str(patient.phone),
        to_number="+4930000",
        body='Late <script>x</script> & "sorry"',
        kind=InboundKind.MESSAGE,
        outcome="Told <staff>",
        received_at=NOW,
        read_at=NOW + timedelta(minutes=5),
        patient=patient,
    )
    html = staff_client.get(reverse("message_log", args=[patient.pk])).content.decode()
    assert "<script>" not in html and "<b>Busy" not in html and "<staff>" not in html
    assert "<td>Late &lt;script&gt;x&lt;/script&gt; &amp; &quot;sorry&quot;</td>" in html
    assert '<span class="text-muted">Told &lt;staff&gt;</span>' in html
    assert "<code>SM&lt;in&gt;</code>" in html and "<code>SM&lt;1&gt;</code>" in html
    assert "read 4 Jan 09:05" in html
    assert "failed: &lt;b&gt;Busy&lt;/b&gt; &amp; " + "y" * 25 + "…</div>" in html
    assert "handed over</div>" in html  # the dispatch's own attempt


def _reference_log_rows(entries) -> str:
    """The log's rows as the view wrote them before its reads were compiled once (model
    instances from reminder_selectors.message_log, each row through format_html), with the
    white space of the template's `{% for %}` around each: what the page must still show."""
    kinds, channels = dict(ReminderKind.choices), dict(Channel.choices)
    states, statuses = dict(ReminderState.choices), dict(DeliveryStatus.choices)
    sent_row = (
        "\n    <tr><td>{at}</td><td>{sent}</td><td>{kind}</td><td>{channel}</td>\n"
        "      <td>{state}{note}</td>\n      <td>{delivery}\n        {attempts}</td>\n"
        "      <td><code>{provider_id}</code></td></tr>\n    "
    )
    received_row = (
        "\n    <tr><td>{at}</td><td>{received}</td><td>{body}</td><td>{sms}</td>\n"
        "      <td>{kind}{outcome}</td>\n      <td>{read}</td>\n"
        "      <td><code>{provider_id}</code></td></tr>\n    "
    )
    muted = ' <span class="text-muted">{}</span>'
    failed, read = pgettext("staff", "failed: %(error)s"), pgettext("staff", "read %(read_at)s")
    rows = []
    for e in entries:
        if r := e.reminder:
            delivery = "–"
            if r.delivery_status:
                delivered = f" {day_month_time(r.delivered_at)}" if r.delivered_at else ""
                delivery = statuses.get(r.delivery_status, r.delivery_status) + delivered
            row = format_html(
                sent_row,
                at=day_time(e.at),
                sent=pgettext("staff", "sent"),
                kind=kinds.get(r.kind, r.kind),
                channel=channels.get(r.channel, r.channel),
                state=states.get(r.state, r.state),
                note=format_html(muted, Truncator(r.status_note).chars(60))
                if r.status_note
                else "",
                delivery=delivery,
                attempts=format_html_join(
                    "",
                    '<div class="text-muted">{} {}</div>',
                    (
                        (
                            day_month_time(d.attempted_at),
                            pgettext("staff", "handed over")
                            if d.succeeded
                            else staff_said(failed, error=Truncator(d.error).chars(40)),
                        )
                        for d in r.deliveries.all()
                    ),
                ),
                provider_id=r.provider_message_id or "–",
            )
        elif m := e.inbound:
            row = format_html(
                received_row,
                at=day_time(e.at),
                received=pgettext("staff", "received"),
                body=m.body,
                sms=pgettext("staff", "SMS"),
                kind=dict(InboundKind.choices).get(m.kind, m.kind),
                outcome=format_html(muted, m.outcome) if m.outcome else "",
                read=staff_said(read, read_at=day_month_time(m.read_at)) if m.read_at else "–",
                provider_id=m.provider_message_id,
            )
        else:
            row = ""
        rows.append(f"\n    {row}\n  ")
    return "".join(rows)


def test_the_message_log_rows_are_the_ones_format_html_wrote(twilio, client, staff_client):
    """The rows written from compiled reads (messages._log_rows over message_log_rows) are
    byte for byte those of the instances through format_html: sent and failed attempts, a
    delivery status with its time, a long status note, SMS received (read or not, with an
    outcome), text to escape, on both pages of a long log."""
    patient = sms_patient()
    _, reminder = sent_confirmation(patient)
    signed_post(client, "sms_status_callback", status_payload(reminder, "delivered"))
    Reminder.objects.filter(pk=reminder.pk).update(
        provider_message_id="SM<1>", status_note="Tried & " + "ü" * 70
    )
    DeliveryAttempt.objects.create(
        reminder=reminder, attempted_at=NOW, succeeded=False, error='<b>"Busy"</b> ' + "y" * 50
    )
    DeliveryAttempt.objects.create(
        reminder=reminder, attempted_at=NOW, succeeded=False, error="short"
    )
    for n in range(30):
        InboundMessage.objects.create(
            provider_message_id=f"SM<in>{n}",
            from_number=str(patient.phone),
            to_number="+4930000",
            body=f'Late <script>x</script> & "sorry" {n}',
            kind=InboundKind.MESSAGE if n % 3 else InboundKind.OPT_OUT,
            outcome="Told <staff>" if n % 2 else "",
            received_at=NOW - timedelta(hours=n),
            read_at=NOW + timedelta(minutes=n) if n % 4 else None,
            patient=patient,
        )
    url = reverse("message_log", args=[patient.pk])
    pages = []
    for number in (1, 2):
        html = staff_client.get(url, {"page": number}).content.decode()
        pages.append(html)
        entries = reminder_selectors.message_log(patient, offset=(number - 1) * 25, limit=25)
        expected = _reference_log_rows(entries)
        assert len(entries) > 4 and expected in html
        assert f"<tbody>\n  {expected}\n  </tbody>" in html
    both = "".join(pages)
    assert "failed: &lt;b&gt;&quot;Busy&quot;&lt;/b&gt;" in both and "Tried &amp; " in both
    assert "read 4 Jan" in both and "Told &lt;staff&gt;" in both


def test_the_message_logs_compiled_reads_are_the_orms(twilio):
    """Each statement compiled once (the UNION's page of keys, each kind read by its ids)
    is the ORM's own, with the same parameters."""
    patient = sms_patient()
    keys = reminder_selectors._log_keys(patient.pk)[25:51]
    assert reminder_selectors._log_page(25, 26).sql_with_params(patient_id=patient.pk) == (
        str(keys.query.sql_with_params()[0]),
        list(keys.query.sql_with_params()[1]),
    )
    for read in (
        reminder_selectors._log_reminders,
        reminder_selectors._log_attempts,
        reminder_selectors._log_inbound,
    ):
        compiled = prepared._read_of_ids(read, 3)
        sql, params = read([7, 8, 9]).query.sql_with_params()
        assert compiled.sql_with_params(id0=7, id1=8, id2=9) == (sql, list(params))


def test_another_role_cannot_read_the_inbox(patient_client):
    assert patient_client.get(reverse("inbox")).status_code == 403


# --- Phone numbers ----------------------------------------------------------------------------


def test_a_bad_number_is_refused_with_a_message(staff_client):
    with pytest.raises(Exception) as refused:
        register_patient(
            first_name="Ada",
            last_name="Bad",
            date_of_birth="1990-01-01",
            email="ada@example.test",
            phone="12",
        )
    assert "not a valid phone number in DE" in str(refused.value)
    response = staff_client.post(
        reverse("patient_create"),
        {
            "first_name": "Ada",
            "last_name": "Bad",
            "date_of_birth": "1990-01-01",
            "email": "ada@example.test",
            "phone": "0170 12",
            "country": "DE",
            "time_zone": "Europe/Berlin",
        },
    )
    assert response.status_code == 200
    assert b"is not a valid phone number in DE" in response.content
    assert not Patient.objects.exists()


def test_a_number_is_read_in_the_patients_country():
    patient = register_patient(
        first_name="Elif",
        last_name="Kaya",
        date_of_birth="1990-01-01",
        email="elif@example.test",
        phone="0532 123 45 67",
        country="TR",
    )
    assert patient.phone_e164 == "+905321234567"


def test_the_migration_keeps_unparseable_numbers_and_lists_them(capsys):
    good = PatientFactory(phone="0170 1234567")
    bad = PatientFactory()
    Patient.objects.filter(pk=bad.pk).update(phone="call the office", phone_e164="")
    Patient.objects.filter(pk=good.pk).update(phone_e164="")
    assert migrate_phone_numbers(Patient) == [bad.pk]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.phone_e164 == "+491701234567"
    assert bad.phone == "call the office" and bad.phone_e164 == ""  # kept as typed
    assert list(phones_to_fix()) == [bad]
    call_command("phones_to_fix")
    assert "call the office" in capsys.readouterr().out
    # The record stays editable for everything else; the number is refused once changed.
    bad = Patient.objects.get(pk=bad.pk)
    bad.first_name = "Renamed"
    bad.full_clean(validate_constraints=False)
    bad.phone = "call the office again"
    with pytest.raises(ValidationError, match="not a valid phone number"):
        bad.full_clean(validate_constraints=False)


def test_staff_see_the_numbers_to_fix(staff_client):
    bad = PatientFactory()
    Patient.objects.filter(pk=bad.pk).update(phone="0", phone_e164="")
    page = staff_client.get(reverse("phones_to_fix"))
    assert page.status_code == 200 and bad.full_name.encode() in page.content


def test_sms_url_configures_twilio():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DEBUG": "1",
        "SMS_URL": f"twilio://{SID}:{TOKEN}@%2B15005550006",
    }
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'clinic.settings'; "
        "from django.conf import settings as s; "
        "print(s.SMS_BACKEND, s.TWILIO_ACCOUNT_SID, s.TWILIO_AUTH_TOKEN, s.TWILIO_FROM)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["reminders.twilio.TwilioSmsBackend", SID, TOKEN, "+15005550006"]


def test_a_callback_faster_than_the_record_of_the_send_still_counts(twilio, client):
    """Twilio may call back before the worker has recorded the send (the sid is not on the
    reminder yet): the status is kept and applied when the send is recorded."""
    from reminders.delivery import _record_sent

    patient = sms_patient()
    session = book(patient, date(2027, 3, 10))
    reminder = Reminder.objects.get(session=session, kind="booking_confirmation", channel="sms")
    sid = "SM" + "e" * 32
    payload = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID}
    assert signed_post(client, "sms_status_callback", payload).status_code == 204
    _record_sent(reminder.pk, worker="test", at=NOW, provider_id=sid)
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.SENT and reminder.delivery_status == "delivered"
    assert DeliveryStatusEvent.objects.get().reminder == reminder


@pytest.mark.django_db(transaction=True)
def test_the_same_callback_at_once_from_many_threads_counts_once(reference_data, twilio):
    import threading

    from django.db import connection

    from reminders.services import record_delivery_status

    reminder_id = sent_confirmation(sms_patient())[1].pk
    sid = Reminder.objects.get(pk=reminder_id).provider_message_id
    outcomes, barrier = [], threading.Barrier(8)

    def deliver():
        try:
            barrier.wait()
            outcomes.append(record_delivery_status(message_sid=sid, status="delivered"))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["delivered"] + ["duplicate"] * 7
    assert DeliveryStatusEvent.objects.filter(message_sid=sid).count() == 1


def test_the_subject_access_report_holds_the_sms_both_ways(twilio, client):
    from audit.subject_access import subject_access_report

    patient = sms_patient()
    _, reminder = sent_confirmation(patient)
    signed_post(client, "sms_inbound", inbound_payload("Thanks!"))
    report = subject_access_report(patient)
    [sent] = [m for m in report["messages"] if m["provider_message_id"]]
    assert sent["provider_message_id"] == reminder.provider_message_id
    assert [m["text"] for m in report["messages_received"]] == ["Thanks!"]
