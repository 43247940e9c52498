"""What a patient agrees to, in the words they were shown.

A consent document (the treatment consent, the photo consent, ...) has versions; a published
version is read-only (the database refuses to change or delete it), so the text a patient
signed stays the text on file. A change is a new version, as protocol versions are. A
signature stores the hash of the text shown, so what was signed can be proven unchanged.
"""

import hashlib

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment", "Treatment"
    PHOTO = "photo", "Photos"
    OTHER = "other", "Other"


class SignedVia(models.TextChoices):
    PORTAL = "portal", _("Portal")
    DESK = "desk", _("At the front desk")


def text_hash(text: str) -> str:
    """The SHA-256 of a consent text, as stored on the version and on each signature."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pghistory.track()
class ConsentDocument(models.Model):
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["kind", "title", "id"]

    def __str__(self):
        return self.title


@pghistory.track()
class ConsentVersion(models.Model):
    """One version of a document in one language. Versions of one number in several
    languages are the same consent: signing any of them counts."""

    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=10, default="en")
    text = models.TextField()
    statements = models.JSONField(
        default=list, blank=True, help_text="The statements the patient ticks, one string each."
    )
    sha256 = models.CharField(max_length=64, editable=False)
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="From this time on it is the version to sign."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["document", "-number", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "number", "language"], name="consent_version_unique"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="consent_version_positive"),
        ]
        triggers = [
            # The signed words never change: a published version is read-only in the database.
            pgtrigger.Protect(
                name="published_read_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__published_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.document} v{self.number} ({self.language})"

    def save(self, *args, **kwargs):
        self.sha256 = text_hash(self.text)
        super().save(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


@pghistory.track()
class Consent(models.Model):
    """A patient's signature of a consent version, and its withdrawal."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consents"
    )
    version = models.ForeignKey(ConsentVersion, on_delete=models.PROTECT, related_name="+")
    shown_sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    typed_name = models.CharField(max_length=200)
    statements = models.JSONField(default=list)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    signed_via = models.CharField(max_length=10, choices=SignedVia.choices)
    witnessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | ~Q(withdrawal_reason=""),
                name="consent_withdrawal_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(signed_via="desk") | Q(witnessed_by__isnull=False),
                name="consent_desk_is_witnessed",
            ),
        ]

    def __str__(self):
        return f"{self.version} signed by {self.typed_name}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None
