"""Django's password-reset form, speaking as the clinic, and the second-factor forms."""

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import two_factor


class ClinicPasswordResetForm(PasswordResetForm):
    """The reset email names the clinic and links to SITE_URL, whatever host the request
    came in on (Django would name the request's host, e.g. "127.0.0.1:8000")."""

    def save(self, **kwargs):
        site = urlsplit(settings.SITE_URL)
        kwargs["domain_override"] = site.netloc
        kwargs["use_https"] = site.scheme == "https"
        kwargs["extra_email_context"] = {
            **(kwargs.get("extra_email_context") or {}),
            "clinic_name": settings.CLINIC_NAME,
            "clinic_phone": settings.CLINIC_PHONE,
        }
        return super().save(**kwargs)


class CodeForm(forms.Form):
    """A second-factor code as typed: bounded, spaces and hyphens dropped, and the shape of a
    code (six digits, or a recovery code) before any device is asked."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
        help_text=_(
            "The 6-digit code your authenticator app shows, or one of your recovery codes."
        ),
    )
    digits_only = False

    def clean_code(self):
        code = two_factor.normalize_code(self.cleaned_data["code"])
        pattern = r"[0-9]{6}" if self.digits_only else two_factor.CODE_PATTERN.pattern
        if not re.fullmatch(pattern, code):
            raise forms.ValidationError(
                _("That is not a code: type the 6 digits your authenticator app shows.")
                if self.digits_only
                else _(
                    "That is not a code: type the 6 digits your authenticator app shows, "
                    "or one of your recovery codes."
                ),
                code="malformed",
            )
        return code


class EnrolmentCodeForm(CodeForm):
    digits_only = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = _("The 6-digit code your app shows now.")
        self.fields["code"].widget.attrs["inputmode"] = "numeric"


class VerifyForm(CodeForm):
    """The code page after the password: the code, "remember this device", and where to go
    next (checked to stay on this site)."""

    remember = forms.BooleanField(required=False)
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, *args, remember_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        if remember_days > 0:
            self.fields["remember"].label = ngettext(
                "Remember this device for %(days)s day",
                "Remember this device for %(days)s days",
                remember_days,
            ) % {"days": remember_days}
            self.fields["remember"].help_text = _("Only on a computer no one else uses.")
        else:
            del self.fields["remember"]


class NextForm(forms.Form):
    """The page to return to after the code, as the code page's link carries it."""

    next = forms.CharField(required=False, max_length=2000)


def safe_next(request, value: str | None) -> str:
    """`value` where it is a path on this site ("/..."), else the start page: a URL, not a
    view name (a `next` of "0" must not be looked up as one)."""
    if (
        value
        and value.startswith("/")
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return resolve_url(settings.LOGIN_REDIRECT_URL)
