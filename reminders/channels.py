"""
How a reminder reaches a patient: email through Django's email backend (plain text and HTML,
from templates) and SMS through a small pluggable backend (`SMS_BACKEND` setting).

The words of every message are templates under templates/reminders/; this module only
gathers the facts they need (in the patient's own time zone) and hands the result over.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import date
from email.generator import Generator
from email.policy import Compat32

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from consents.selectors import missing_consents
from treatments import rules
from treatments.formatting import (
    clinic_time,
    clinic_when,
    long_date,
    place_name,
    short_date,
    short_when,
)

from .models import Channel, Reminder

logger = logging.getLogger("clinic.reminders")

# Marked for translation, translated when a message is rendered (in the patient's language).
SUBJECTS = {
    "booking_confirmation": _("Your session on {session_day} is booked"),
    "booking_moved": _("Your session has moved to {session_day}"),
    "nsaid_stop": _("From today: no aspirin, ibuprofen or other NSAIDs until {nsaid_last}"),
    "day_before": _("Your session tomorrow, {session_day}"),
    "aftercare": _("Aftercare after your session today"),
    "nsaid_end": _("You may take NSAIDs again from today"),
    "follow_up_due": _("Your follow-up visit on {follow_up_day}"),
    "next_session_eligible": _("Six months on: your result and a possible next session"),
    "cancellation": _("Your session on {session_day} is cancelled"),
    "request_answered": _("The clinic has answered your request"),
    "recall": _("Important: a product used in your treatment has been recalled"),
    "waitlist_offer": _("A time has become free: {offer_day}"),
}


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


# The reminders before a session, which ask for a consent still to sign.
PRE_PROCEDURE_KINDS = ("day_before", "nsaid_stop")


def message_context(reminder: Reminder) -> dict:
    if reminder.waitlist_offer_id:
        return waitlist_offer_context(reminder)
    session = reminder.session
    patient = session.patient
    tz = patient.tz
    clinic = session.tz  # the session's site's clock: the times it names
    # The NSAID days count on the patient's own calendar.
    window = rules.nsaid_window(
        rules.local_day(session.starts_at, tz), terms=session.protocol.terms
    )
    context = {
        "reminder": reminder,
        "patient": patient,
        "first_name": patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "clinic_address": session.site.address or settings.CLINIC_ADDRESS,
        "clinic_phone": settings.CLINIC_PHONE,
        # Only for a patient who has a portal account: no link to a page they cannot open.
        "portal_url": settings.SITE_URL if patient.user_id else "",
        # The appointment on its site's clock, named, the patient's own time second; its
        # day the site's.
        "session_when": clinic_when(session.starts_at, clinic, tz),
        "session_day": long_date(session.local_date),
        "session_time": clinic_time(session.starts_at, clinic, tz),
        # For SMS, where every character counts: "Wed 10 Mar, 16:00 Berlin".
        "session_short": short_when(session.starts_at, clinic, tz),
        "nsaid_first_short": short_date(window.first_day),
        "nsaid_last_short": short_date(window.last_day),
        "clinic_place": place_name(clinic),
        "time_zone": patient.time_zone,
        "moved": reminder.occasion > 0,
        "nsaid_first": long_date(window.first_day),
        "nsaid_last": long_date(window.last_day),
        "nsaid_resume": long_date(window.resume_day),
        "prescribed_nsaid": patient.prescribed_nsaid if patient.takes_prescribed_nsaid else "",
        "eligible_day": long_date(session.gap_until),
    }
    if reminder.kind == "request_answered":
        answered = session.change_requests.filter(handled_at__isnull=False).order_by(
            "handled_at", "id"
        )[reminder.occasion - 1 : reminder.occasion]
        request = next(iter(answered), None)
        context["request_kind"] = request.kind if request else ""
        context["outcome"] = request.outcome if request else ""
    if reminder.kind == "next_session_eligible":
        context["booking_url"] = (
            settings.SITE_URL.rstrip("/") + reverse("portal_book") if patient.user_id else ""
        )
    if reminder.kind in PRE_PROCEDURE_KINDS:
        # What is still to sign for the session's day, read when the message is sent; the
        # link only for a patient who can open the portal (else: sign at the desk).
        missing = missing_consents(patient, session.local_date)
        context["consents_to_sign"] = ", ".join(v.document.title for v in missing)
        context["consent_url"] = (
            settings.SITE_URL.rstrip("/") + reverse("portal_consents")
            if missing and patient.user_id
            else ""
        )
    if reminder.recall_recipient_id:
        recipient = reminder.recall_recipient
        context["recall_text"] = recipient.recall.text
        context["recall_sessions"] = [
            {**s, "day": long_date(date.fromisoformat(s["date"]))} for s in recipient.sessions
        ]
    if reminder.follow_up_id:
        context["follow_up_day"] = long_date(reminder.follow_up.due_date)
        context["follow_up_kind"] = reminder.follow_up.get_kind_display()
    return context


def waitlist_offer_context(reminder: Reminder) -> dict:
    """A waitlist offer: the time on its site's clock, named (the patient's own second), until
    when the patient may accept, and the link to the offer's page in the portal."""
    offer = reminder.waitlist_offer
    patient, freed = offer.patient, offer.freed_slot
    site_tz, tz = freed.site.tz, patient.tz
    return {
        "reminder": reminder,
        "patient": patient,
        "first_name": patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "site_name": freed.site.name,
        "offer_when": clinic_when(freed.starts_at, site_tz, tz),
        "offer_day": long_date(freed.starts_at.astimezone(site_tz).date()),
        "offer_short": short_when(freed.starts_at, site_tz, tz),
        "answer_by": clinic_when(offer.expires_at, site_tz, tz),
        "answer_by_short": short_when(offer.expires_at, site_tz, tz),
        "offer_url": settings.SITE_URL.rstrip("/")
        + reverse("portal_waitlist_offer", args=[offer.pk]),
    }


def language_of(reminder: Reminder) -> str:
    """The language the patient reads (Patient.language): every message is rendered in it."""
    return reminder.patient.language or settings.LANGUAGE_CODE


def render_email(reminder: Reminder, context: dict | None = None) -> Email:
    """The email in the patient's language, its dates in that language's words."""
    with translation.override(language_of(reminder)):
        context = context or message_context(reminder)
        text = render_to_string(f"reminders/{reminder.kind}.txt", context, using="text").strip()
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        return Email(
            subject=str(SUBJECTS[_subject_key(reminder, context)]).format(**context),
            text=text,
            html=render_to_string(
                "reminders/email.html",
                {**context, "paragraphs": paragraphs, "language": translation.get_language()},
            ),
        )


def _subject_key(reminder: Reminder, context: dict) -> str:
    if reminder.kind == "booking_confirmation" and context["moved"]:
        return "booking_moved"
    return reminder.kind


def render_sms(reminder: Reminder, context: dict | None = None) -> str:
    """The SMS in the patient's language, on one line (tests/test_sms_length.py keeps each
    within one segment where the language allows)."""
    with translation.override(language_of(reminder)):
        context = context or message_context(reminder)
        body = render_to_string(f"reminders/{reminder.kind}.sms.txt", context, using="text")
        return " ".join(body.split())


def send(reminder: Reminder, *, email_connection=None) -> str:
    """Render the reminder for its channel and hand it over; raise on any failure (a
    PermanentSendError when no retry can help). Returns the provider's id for the message
    ("" where it gives none)."""
    return hand_over(prepare(reminder), email_connection=email_connection)


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    reference: str


def prepare(reminder: Reminder) -> ReminderEmail | Sms:
    """The reminder's message, rendered and built, ready to hand over (no outside call): the
    dispatcher prepares the next message while the last send's record waits for the disk."""
    patient = reminder.patient
    if reminder.channel == Channel.EMAIL:
        content = render_email(reminder)
        email = ReminderEmail(
            subject=content.subject,
            body=content.text,
            to=[patient.email],
            headers={
                # Stable per reminder, so mail systems can drop a resend after a crash.
                "Message-ID": f"<reminder-{reminder.pk}@{settings.REMINDER_MESSAGE_ID_DOMAIN}>",
                "X-Clinic-Reminder": str(reminder.pk),
            },
        )
        email.attach_alternative(content.html, "text/html")
        email.build()
        return email
    elif reminder.channel == Channel.SMS:
        return Sms(
            to=patient.phone_e164 or patient.phone,
            body=render_sms(reminder),
            reference=f"reminder-{reminder.pk}",
        )
    else:
        raise ValueError(f"Unknown channel {reminder.channel!r}")


def hand_over(message: ReminderEmail | Sms, *, email_connection=None) -> str:
    """Hand a prepared message to its provider; returns the provider's id ("" if none)."""
    if isinstance(message, Sms):
        return (
            sms_backend().send(to=message.to, body=message.body, reference=message.reference) or ""
        )
    message.connection = email_connection
    message.send(fail_silently=False)
    return ""


# --- Email: Django's message, built once and written cheaper ------------------------------


_PLAIN_HEADER = re.compile(r"[\t\x20-\x7e]*\Z")


class _Compat32Fast(Compat32):
    """Python's compat32 email policy (what Django's messages use), with a shortcut for a
    header that needs no folding and no encoding: printable ASCII that fits on one line comes
    out as "Name: value" exactly as compat32 writes it (tests/test_reminder_email.py compares
    both on every header of sample messages and on random values), without building an
    email.header.Header for it (a sixth of a reminder's CPU). Anything else: compat32."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and self.max_line_length
            and len(name) + 2 + len(value) <= self.max_line_length
            and _PLAIN_HEADER.match(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


COMPAT32_FAST = _Compat32Fast()


class ReminderEmail(EmailMultiAlternatives):
    """Django's EmailMultiAlternatives whose MIME message is built once (`build`, before the
    hand-over; every backend then asks `message()` for it) and serialized cheaper: the
    headers with COMPAT32_FAST, the multipart boundary chosen as Python's generator chooses
    it (random) but checked against the parts with a substring test instead of compiling a
    regular expression per message. The bytes are those Django writes (tests compare them,
    the boundary and Date aside)."""

    _built = None

    def build(self):
        self._built = None
        msg = super().message()
        boundary = Generator._make_boundary()
        if not any(f"--{boundary}" in str(part.get_payload()) for part in msg.get_payload()):
            msg.set_boundary(boundary)  # else (never seen) the generator picks another
        msg.policy = COMPAT32_FAST
        self._built = msg
        return msg

    def message(self):
        return self.build() if self._built is None else self._built


# --- SMS backends -------------------------------------------------------------------------


class PermanentSendError(Exception):
    """The provider refused this message for good (an invalid number, a recipient who opted
    out at the carrier): the reminder fails at once, it is not retried."""


class BaseSmsBackend:
    """Send one SMS or raise (PermanentSendError when no retry can help). `reference` is
    stable per reminder (for provider de-duplication). Returns the provider's message id,
    or None."""

    def send(self, *, to: str, body: str, reference: str) -> str | None:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Writes the SMS to the log: the default until a provider is configured."""

    def send(self, *, to: str, body: str, reference: str) -> str | None:
        logger.info("SMS to %s [%s]: %s", to, reference, body)
        return None


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps sent messages in memory (tests, benchmarks)."""

    outbox: list[dict] = []
    _lock = threading.Lock()

    def send(self, *, to: str, body: str, reference: str) -> str | None:
        with self._lock:
            self.outbox.append({"to": to, "body": body, "reference": reference})
        return None


class SmsNotConfigured(RuntimeError):
    pass


class DisabledSmsBackend(BaseSmsBackend):
    """Production's default until an SMS provider is configured: every SMS fails visibly
    (it lands in the failed reminders staff see) instead of being printed to the log."""

    def send(self, *, to: str, body: str, reference: str) -> str | None:
        raise SmsNotConfigured("SMS is not set up at this clinic (set SMS_BACKEND).")


def sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()
