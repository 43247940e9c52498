"""SMS through Twilio, with its official client (`twilio`), behind reminders.channels'
backend interface; and the check of the signature Twilio puts on its webhooks.

Settings: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM (or SMS_URL=twilio://SID:TOKEN@FROM),
SMS_TIMEOUT for every HTTP call, TWILIO_API_BASE (https://api.twilio.com; the tests point it
at a local fake server), PUBLIC_BASE_URL (where Twilio reaches this site: the status callback
URL sent with each message, and the URL webhook signatures are computed over).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from .channels import BaseSmsBackend, PermanentSendError, SmsNotConfigured

TWILIO_BASE = "https://api.twilio.com"

# Twilio's error codes that no retry can cure: the number, the recipient or the account's
# reach (https://www.twilio.com/docs/api/errors). Everything else (429, 5xx, timeouts,
# anything unknown) is retried with the usual backoff.
PERMANENT_ERROR_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' number cannot be reached
        21217,  # phone number does not appear to be valid
        21407,  # this phone number type does not support SMS
        21408,  # permission to send an SMS has not been enabled for the region
        21421,  # phone number is invalid
        21610,  # attempt to send to unsubscribed recipient (the patient sent STOP)
        21612,  # the 'To' phone number is not currently reachable via SMS
        21614,  # 'To' number is not a valid mobile number
        21635,  # 'To' number cannot be a landline
        30003,  # unreachable destination handset
        30004,  # message blocked
        30005,  # unknown destination handset
        30006,  # landline or unreachable carrier
        30007,  # message filtered (carrier)
    }
)


class BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client (requests, with a timeout on every call), sending what is
    meant for https://api.twilio.com to TWILIO_API_BASE instead when that is set."""

    def __init__(self, *, base: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if self.base != TWILIO_BASE and url.startswith(TWILIO_BASE):
            url = self.base + url[len(TWILIO_BASE) :]
        return super().request(method, url, *args, **kwargs)


def public_url(name: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(name)


class TwilioSmsBackend(BaseSmsBackend):
    def __init__(self):
        if not (
            settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM
        ):
            raise SmsNotConfigured(
                "Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM (or SMS_URL)."
            )
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=BaseUrlHttpClient(
                base=settings.TWILIO_API_BASE, timeout=settings.SMS_TIMEOUT
            ),
        )

    def send(self, *, to: str, body: str, reference: str) -> str:
        options = {}
        if settings.TWILIO_STATUS_CALLBACKS:
            options["status_callback"] = public_url("sms_status_callback")
        try:
            message = self.client.messages.create(
                to=to, from_=settings.TWILIO_FROM, body=body, **options
            )
        except TwilioRestException as exc:
            if exc.code in PERMANENT_ERROR_CODES:
                raise PermanentSendError(f"Twilio error {exc.code}: {exc.msg}") from exc
            raise
        return message.sid or ""


def signature_valid(*, path: str, params: dict[str, str], signature: str) -> bool:
    """Whether X-Twilio-Signature `signature` is Twilio's for this POST to PUBLIC_BASE_URL +
    `path` with these form fields (RequestValidator: HMAC-SHA1 with the auth token)."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token or not signature:
        return False
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    return RequestValidator(token).validate(url, params, signature)
