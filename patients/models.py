import zoneinfo

import pghistory
import pgtrigger
import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .phones import parse as parse_phone
from .phones import to_e164
from .validators import EARLIEST_DAY, validate_no_bidi_controls

phone_validator = RegexValidator(
    r"^\+?[0-9 ()\-]{6,20}$",
    "Enter a phone number of digits, spaces and dashes, optionally starting with +.",
)


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not a known time zone (e.g. Europe/Berlin).",
            code="invalid_time_zone",
            params={"value": value},
        )


born_from_1900 = MinValueValidator(
    EARLIEST_DAY, "The date of birth must be on or after 1 January 1900."
)

# The longest free text kept about a patient (medications, allergies, notes).
TEXT_MAX = 2000


def default_time_zone():
    return settings.CLINIC_TIME_ZONE


def default_country():
    return settings.CLINIC_COUNTRY


def validate_country(value):
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            "%(value)s is not a country code (ISO 3166, e.g. DE, TR, GB).",
            code="invalid_country",
            params={"value": value},
        )


@pghistory.track()
class Patient(models.Model):
    """A person treated by the clinic. Their own time zone decides the dates they read."""

    # Rules on the fields hold on every write path (services, admin, forms): names without
    # text-direction controls, a birth date from 1900 on, bounded free text.
    first_name = models.CharField(max_length=100, validators=[validate_no_bidi_controls])
    last_name = models.CharField(max_length=100, validators=[validate_no_bidi_controls])
    date_of_birth = models.DateField(validators=[born_from_1900])
    email = models.EmailField(help_text="Also the patient's sign-in name for the portal.")
    # Checked in clean() with phonenumbers in `country` (a number kept from before that
    # check stays until changed); phone_validator is kept for the older migrations.
    phone = models.CharField(max_length=32, blank=True)
    # The phone in E.164 (patients.phones: read in `country` when typed without a country
    # code), kept in step with `phone` by save(); searched by its end through the
    # patient_phone_e164_suffix index (migration 0008). Empty for a number typed before
    # numbers were checked that does not parse: listed for staff to fix (phones_to_fix).
    phone_e164 = models.CharField(max_length=16, blank=True, default="", editable=False)
    country = models.CharField(
        max_length=2,
        default=default_country,
        validators=[validate_country],
        help_text="Where the patient lives (ISO 3166 code): a phone number typed without a "
        "country code is read as one of this country.",
    )
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="Where the patient lives; reminders follow their local clock.",
    )

    # The language the patient reads: consents are offered in it where the clinic has a
    # version in it (else in English).
    language = models.CharField(
        max_length=10,
        choices=[("en", "English"), ("de", "Deutsch"), ("tr", "Türkçe")],
        default="en",
        help_text="Consents are offered in this language where the clinic has it.",
    )

    # Reminder channels and consent.
    reminders_by_email = models.BooleanField(default=True)
    reminders_by_sms = models.BooleanField(default=False)
    contact_consent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the patient agreed to be contacted about care."
    )
    non_essential_opt_out = models.BooleanField(
        default=False,
        help_text="Only essential messages (cancellations, aftercare warning signs).",
    )

    # Medical background the protocol needs.
    medications = models.TextField(
        blank=True,
        max_length=TEXT_MAX,
        validators=[MaxLengthValidator(TEXT_MAX)],
        help_text="Current medications, one per line.",
    )
    takes_prescribed_nsaid = models.BooleanField(
        default=False,
        help_text="A regular prescribed NSAID (e.g. daily low-dose aspirin): a clinician decides, "
        "the patient is never just told to stop it.",
    )
    prescribed_nsaid = models.CharField(max_length=200, blank=True)
    allergies = models.TextField(
        blank=True, max_length=TEXT_MAX, validators=[MaxLengthValidator(TEXT_MAX)]
    )
    notes = models.TextField(
        blank=True, max_length=TEXT_MAX, validators=[MaxLengthValidator(TEXT_MAX)]
    )

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
    )
    # The secret of the patient's private calendar feed URL; revoking it clears it.
    calendar_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # A duplicate record merged into another (treatments.merges): kept, never deleted, with
    # its sessions and requests moved to the kept record.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        # Actions beyond add/change/view, each held by roles in accounts/roles.py.
        permissions = [
            ("invite_patient", "Can send a patient a portal invitation"),
            ("change_portal_login", "Can change the email of a patient's active portal login"),
            ("merge_patient", "Can merge a duplicate patient record into another"),
            ("export_patient_data", "Can export everything held about a patient (access request)"),
            ("review_intake", "Can mark a patient's intake questionnaire reviewed"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="patient_email_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(takes_prescribed_nsaid=False) | ~models.Q(prescribed_nsaid=""),
                name="patient_prescribed_nsaid_named",
            ),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("id")), name="patient_not_merged_into_self"
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True) | models.Q(merged_at__isnull=False),
                name="patient_merge_has_time",
            ),
        ]
        indexes = [
            # The patient list's order.
            models.Index(fields=["last_name", "first_name", "id"], name="patient_list_order_idx"),
            # Registration warns of a patient with the same name and date of birth.
            models.Index(
                Lower("last_name"),
                Lower("first_name"),
                "date_of_birth",
                name="patient_duplicate_check_idx",
            ),
            # Search by the start of a name or email: PostgreSQL pattern indexes, migration 0005.
        ]

    def __str__(self):
        return self.full_name

    def save(self, *args, **kwargs):
        """Keep the E.164 copy in step with the phone as typed, on every write path."""
        self.phone_e164 = to_e164(self.phone, region=self.country or None)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"phone", "country"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "phone_e164"}
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        patient = super().from_db(db, field_names, values)
        if "phone" in field_names and "country" in field_names:
            patient._loaded_phone = (patient.phone, patient.country)
        return patient

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def clean(self):
        errors = {}
        self.email = (self.email or "").strip()
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            errors["date_of_birth"] = ValidationError(
                "The date of birth cannot be in the future.", code="invalid"
            )
        if self.takes_prescribed_nsaid and not self.prescribed_nsaid.strip():
            errors["prescribed_nsaid"] = ValidationError(
                "Name the prescribed NSAID and its dose (e.g. aspirin 100 mg daily).",
                code="required",
            )
        self.phone = (self.phone or "").strip()
        # A number typed (or re-read in another country) is checked; one kept from before
        # numbers were checked stays as it is until someone changes it (phones_to_fix).
        loaded = getattr(self, "_loaded_phone", None)
        changed = loaded is None or loaded != (self.phone, self.country)
        if self.phone and changed and self.country in phonenumbers.SUPPORTED_REGIONS:
            if parse_phone(self.phone, region=self.country) is None:
                errors["phone"] = ValidationError(
                    _(
                        "%(phone)s is not a valid phone number in %(country)s. Type it with "
                        "its country code if it is from another country (e.g. +44 20 7946 0958)."
                    ),
                    code="invalid_phone",
                    params={"phone": self.phone, "country": self.country},
                )
        if self.reminders_by_sms and not self.phone:
            errors["phone"] = ValidationError(
                _("A phone number is needed for SMS reminders."), code="required"
            )
        if errors:
            raise ValidationError(errors)


class PatientChange(models.Model):
    """One change to a patient's record by the front office: which fields, their old and
    new values, who and when. Append-only (a PostgreSQL trigger refuses UPDATE, migration
    0009), so the record's history cannot be rewritten; written by patients.services."""

    class Kind(models.TextChoices):
        EDIT = "edit", "Edited"
        MERGED_INTO = "merged_into", "Merged into another record"
        MERGED_FROM = "merged_from", "Took over a duplicate record"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EDIT)
    # {field name: [old value, new value]}, values as JSON (dates as ISO text).
    changes = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=300, blank=True)
    # Why recorded medical information was amended (patients.services.MEDICAL_FIELDS).
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(
                fields=["patient", "-changed_at", "-id"], name="patient_change_history_idx"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.patient_id} at {self.changed_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValidationError("A change record is never rewritten.", code="append_only")
        super().save(*args, **kwargs)

    def rows(self) -> list[tuple[str, object, object]]:
        """(field label, old, new) for the patient page."""
        labels = {f.name: f.verbose_name for f in Patient._meta.get_fields() if f.concrete}
        return [
            (str(labels.get(name, name)).capitalize(), old, new)
            for name, (old, new) in self.changes.items()
        ]


# --- Intake: the patient's questionnaire before the first session ---------------------------

INTAKE_TEXT_MAX = 4000


class Smoking(models.TextChoices):
    NEVER = "never", _("I have never smoked")
    FORMER = "former", _("I used to smoke")
    CURRENT = "current", _("I smoke")


class Alcohol(models.TextChoices):
    NONE = "none", _("I do not drink alcohol")
    OCCASIONAL = "occasional", _("Occasionally")
    REGULAR = "regular", _("Regularly (most weeks)")


# The answers of a version, in the order staff read them (and the diff lists them).
INTAKE_ANSWERS = (
    "medical_history",
    "allergies",
    "smoking",
    "alcohol",
    "previous_hair_treatments",
    "goals",
    "takes_prescribed_nsaid",
    "prescribed_nsaid",
)


def _intake_text(label: str):
    return models.TextField(
        label,
        blank=True,
        max_length=INTAKE_TEXT_MAX,
        validators=[MaxLengthValidator(INTAKE_TEXT_MAX), validate_no_bidi_controls],
    )


@pghistory.track()
class IntakeVersion(models.Model):
    """One submission of the patient's intake questionnaire. Append-only: a change is a new
    version (number + 1), so what a clinician reviewed stays exactly as they read it; only
    the review (who, when) is ever written onto a version after it was submitted
    (patients.intake)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="intake_versions")
    number = models.PositiveIntegerField()
    medical_history = _intake_text("medical history")
    allergies = _intake_text("allergies")
    smoking = models.CharField(max_length=16, choices=Smoking.choices)
    alcohol = models.CharField(max_length=16, choices=Alcohol.choices)
    previous_hair_treatments = _intake_text("previous hair treatments")
    goals = _intake_text("goals")
    takes_prescribed_nsaid = models.BooleanField(
        "takes an NSAID prescribed by a doctor", default=False
    )
    prescribed_nsaid = models.CharField(
        "prescribed NSAID", max_length=200, blank=True, validators=[validate_no_bidi_controls]
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["patient", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "number"], name="intake_version_unique"),
            models.CheckConstraint(
                condition=models.Q(takes_prescribed_nsaid=False) | ~models.Q(prescribed_nsaid=""),
                name="intake_prescribed_nsaid_named",
            ),
            models.CheckConstraint(
                condition=models.Q(reviewed_at__isnull=True, reviewed_by__isnull=True)
                | models.Q(reviewed_at__isnull=False, reviewed_by__isnull=False),
                name="intake_review_has_author",
            ),
        ]
        triggers = [
            # Append-only in the database too: only the review (who, when) is ever written
            # onto a submitted version, once; nothing is deleted.
            pgtrigger.Protect(
                name="only_the_review_changes",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(exclude=["reviewed_by", "reviewed_at"]),
            ),
            pgtrigger.Protect(
                name="reviewed_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__reviewed_at__isnull=False),
            ),
            pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self):
        return f"Intake v{self.number} of patient {self.patient_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            fields = set(kwargs.get("update_fields") or ())
            if not fields or not fields <= {"reviewed_by", "reviewed_at"}:
                raise ValidationError(
                    "An intake version is never rewritten: submit a new version.",
                    code="append_only",
                )
        super().save(*args, **kwargs)


@pghistory.track()
class IntakeMedication(models.Model):
    """One line of the patient's current medications in an intake version."""

    version = models.ForeignKey(IntakeVersion, on_delete=models.CASCADE, related_name="medications")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=200, validators=[validate_no_bidi_controls])
    dose = models.CharField(max_length=100, blank=True, validators=[validate_no_bidi_controls])
    since = models.CharField(
        "since when", max_length=100, blank=True, validators=[validate_no_bidi_controls]
    )

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="intake_medication_line"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return self.name

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.name, self.dose, self.since)


@pghistory.track()
class IntakeReconfirmation(models.Model):
    """The patient said "nothing changed" about an intake version, before a later session:
    recorded with the time, never rewritten."""

    version = models.ForeignKey(
        IntakeVersion, on_delete=models.CASCADE, related_name="reconfirmations"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField()

    class Meta:
        ordering = ["-confirmed_at", "-id"]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"Reconfirmed {self.version} at {self.confirmed_at:%Y-%m-%d %H:%M}"
