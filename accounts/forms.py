"""Django's password-reset form, speaking as the clinic."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm


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
