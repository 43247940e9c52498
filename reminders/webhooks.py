"""The SMS provider's webhooks (Twilio): delivery status callbacks and incoming SMS.

Thin views: POST only, no CSRF token (Twilio cannot send one) but X-Twilio-Signature checked
against PUBLIC_BASE_URL + the path with the auth token (a forged or unsigned request: 403,
nothing changed); the fields parsed by a form (junk: 400, never a 500); one service call.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .twilio import signature_valid

SID = r"^[A-Z]{2}[0-9a-fA-F]{32}$"


class StatusCallbackForm(forms.Form):
    MessageSid = forms.RegexField(regex=SID, max_length=34)
    MessageStatus = forms.RegexField(regex=r"^[a-z_]{1,16}$", max_length=16)
    ErrorCode = forms.RegexField(regex=r"^[0-9]{1,8}$", required=False, max_length=8)


class InboundSmsForm(forms.Form):
    MessageSid = forms.RegexField(regex=SID, max_length=34)
    From = forms.RegexField(regex=r"^\+?[0-9]{3,20}$", max_length=21)
    To = forms.CharField(required=False, max_length=32)
    Body = forms.CharField(required=False, max_length=1600, strip=False)


def _signed(request: HttpRequest) -> bool:
    return signature_valid(
        path=request.path,
        params=request.POST.dict(),
        signature=request.headers.get("X-Twilio-Signature", ""),
    )


def _twiml(reply: str = "") -> HttpResponse:
    body = f"<Message>{escape(reply)}</Message>" if reply else ""
    return HttpResponse(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        content_type="text/xml",
    )


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    if not _signed(request):
        return HttpResponseForbidden("Signature does not match.")
    form = StatusCallbackForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Not a status callback.")
    data = form.cleaned_data
    services.record_delivery_status(
        message_sid=data["MessageSid"],
        status=data["MessageStatus"],
        error_code=data["ErrorCode"] or "",
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound_sms(request: HttpRequest) -> HttpResponse:
    if not _signed(request):
        return HttpResponseForbidden("Signature does not match.")
    form = InboundSmsForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Not an incoming SMS.")
    data = form.cleaned_data
    received = services.receive_sms(
        message_sid=data["MessageSid"],
        from_number=data["From"],
        to_number=data["To"],
        body=data["Body"],
    )
    return _twiml(received.reply)
