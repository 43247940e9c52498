from datetime import date, time
from zoneinfo import ZoneInfo

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.prepared import PreparedGet
from sites.models import Site, default_site_id

from . import photos, rules
from .validators import validate_photo


def default_follow_up_plan():
    return rules.follow_up_plan_as_json(rules.DEFAULT_FOLLOW_UP_PLAN)


def default_reminder_schedule():
    return rules.reminder_schedule_as_json(rules.ReminderSchedule())


# The quiet hours' defaults as callables: Django's check fields.W161 takes a fixed time
# default for a mistaken "now" when the check runs within 10 s of it (at 08:00:00 or
# 21:00:00 UTC `check --deploy` warned, and the settings test failed).
def default_quiet_hours_start() -> time:
    return time(21, 0)


def default_quiet_hours_end() -> time:
    return time(8, 0)


def newest_protocols(versions: models.QuerySet, day: date) -> models.QuerySet:
    """The versions that took effect on or before `day`, the newest first."""
    return versions.filter(effective_from__lte=day).order_by("-effective_from", "-id")


class ProtocolVersionQuerySet(models.QuerySet):
    def in_force_on(self, day: date) -> "ProtocolVersion":
        """The version in force on `day`: the newest that took effect on or before it. Asked
        of the whole table (ProtocolVersion.objects), on every booking and slot search: by
        a statement compiled once a process."""
        if not self.query.where and not self.query.is_sliced:
            version = _version_in_force.get(day, using=self.db)
        else:
            version = newest_protocols(self, day).first()
        if version is None:
            raise ProtocolVersion.DoesNotExist(f"No protocol version is in force on {day}.")
        return version


@pghistory.track()
class ProtocolVersion(models.Model):
    """The numbers of the protocol a clinic follows, from a date on.

    A session keeps the version it was booked under, and the dates derived from it are stored
    on the session and its follow-ups, so a new version never moves an existing patient's
    dates. A version that sessions were booked under can no longer be edited.
    """

    name = models.CharField(max_length=100, unique=True)
    effective_from = models.DateField(help_text="New bookings from this day on use this version.")
    gap_months = models.PositiveSmallIntegerField(
        default=6, help_text="Calendar months at least between two sessions of one patient."
    )
    nsaid_days_before = models.PositiveSmallIntegerField(
        default=3, help_text="No NSAIDs from this many days before the session day."
    )
    nsaid_days_after = models.PositiveSmallIntegerField(
        default=21, help_text="...through this many days after it (inclusive)."
    )
    follow_up_window_days = models.PositiveSmallIntegerField(
        default=rules.DEFAULT_FOLLOW_UP_WINDOW_DAYS,
        help_text="A follow-up is due from this many days before its due date to this many "
        'days after it (never before the session day): the review\'s "Due now", and the '
        "earliest it can be recorded.",
    )
    follow_up_plan = models.JSONField(
        default=default_follow_up_plan,
        help_text='List of {"kind": ..., "months": n} or {"kind": ..., "days": n}.',
    )
    reminder_schedule = models.JSONField(
        default=default_reminder_schedule,
        help_text="Patient-local times of the reminders, e.g. "
        '{"day_before_at": "09:00", "follow_up_due_days_before": 2}.',
    )
    quiet_hours_start = models.TimeField(
        default=default_quiet_hours_start,
        help_text="No reminder goes out from this patient-local time...",
    )
    quiet_hours_end = models.TimeField(
        default=default_quiet_hours_end, help_text="...until this one."
    )
    notes = models.TextField(blank=True, help_text="Why this version: the doctors' decision.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ProtocolVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(gap_months__gte=1), name="protocol_gap_positive"),
            models.CheckConstraint(
                condition=Q(nsaid_days_before__lte=60) & Q(nsaid_days_after__lte=120),
                name="protocol_nsaid_days_sane",
            ),
            models.CheckConstraint(
                condition=Q(follow_up_window_days__lte=rules.MAX_FOLLOW_UP_WINDOW_DAYS),
                name="protocol_follow_up_window_sane",
            ),
        ]

    def __str__(self):
        return f"{self.name} (from {self.effective_from})"

    @property
    def terms(self) -> rules.ProtocolTerms:
        return rules.ProtocolTerms(
            gap_months=self.gap_months,
            nsaid_days_before=self.nsaid_days_before,
            nsaid_days_after=self.nsaid_days_after,
            follow_up_window_days=self.follow_up_window_days,
            follow_up_plan=rules.parse_follow_up_plan(self.follow_up_plan),
            quiet_hours_start=self.quiet_hours_start,
            quiet_hours_end=self.quiet_hours_end,
            reminders=rules.parse_reminder_schedule(self.reminder_schedule),
        )

    @property
    def in_use(self) -> bool:
        return self.pk is not None and self.sessions.exists()

    def clean(self):
        errors = {}
        for field, parse in (
            ("follow_up_plan", rules.parse_follow_up_plan),
            ("reminder_schedule", rules.parse_reminder_schedule),
        ):
            try:
                parse(getattr(self, field))
            except ValueError as exc:
                errors[field] = ValidationError(str(exc), code="invalid")
        if "follow_up_plan" not in errors and any(
            isinstance(item, dict) and item.get("kind") == "baseline"
            for item in self.follow_up_plan or []
        ):  # day 0 is recorded at the session (treatments.baseline), never planned
            errors["follow_up_plan"] = ValidationError(
                "The baseline is recorded at the session; it is not a planned follow-up.",
                code="invalid",
            )
        if errors:
            raise ValidationError(errors)


_version_in_force = PreparedGet(
    lambda day: newest_protocols(ProtocolVersion._default_manager.all(), day), key=date
)


@pghistory.track()
class Room(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="rooms", default=default_site_id
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class LotStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ON_HOLD = "on_hold", "On hold (quarantine)"
    RELEASED = "released", "Released"
    RECALLED = "recalled", "Recalled"


# A lot in one of these states is never used on a session (unusable_reason, usable_on).
BLOCKED_LOT_STATUSES = (LotStatus.ON_HOLD, LotStatus.RECALLED)


@pghistory.track()
class RoomOutOfService(models.Model):
    """A room that cannot be used from `starts_at` to `ends_at` (repairs, cleaning)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="out_of_service")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "rooms out of service"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="room_out_of_service_ends_after_start"
            )
        ]

    def __str__(self):
        return f"{self.room} out of service from {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The period must end after it starts."})


class ProductLotQuerySet(models.QuerySet):
    def usable_on(self, day: date):
        """The lots unusable_reason(day) lets through, as one query (what a form offers)."""
        return (
            self.filter(expiry_date__gte=day, certificate_valid_until__gte=day)
            .exclude(certificate_issuer="")
            .exclude(certificate_file="")
            .exclude(status__in=BLOCKED_LOT_STATUSES)
        )


@pghistory.track()
class ProductLot(models.Model):
    """A lot of exosome vials as delivered, with the safety certificate the clinic checked.

    Whether a lot may be used on a day is decided here only: unusable_reason (one lot, with
    the reason a refusal names) and ProductLot.objects.usable_on (the same rule as a query).
    """

    product_name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=200)
    lot_number = models.CharField(max_length=100)
    exosomes_per_vial = models.BigIntegerField(
        default=400_000_000_000, validators=[MinValueValidator(1)]
    )
    expiry_date = models.DateField()
    vials_received = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    received_on = models.DateField(default=timezone.localdate)
    certificate_file = models.FileField(upload_to="certificates/%Y/", blank=True)
    certificate_issuer = models.CharField(max_length=200, blank=True)
    certificate_valid_until = models.DateField(null=True, blank=True)
    # Quarantine: the current state, set only by treatments.lots (each change is a
    # LotStatusChange row, with who, when and why).
    status = models.CharField(
        max_length=12, choices=LotStatus.choices, default=LotStatus.AVAILABLE, editable=False
    )
    status_reason = models.TextField(blank=True, editable=False)
    # Stock: vials used on completed sessions plus vials written off, kept by treatments
    # services under the lot's row lock; the CHECK below holds on hand (received − this)
    # at zero or more whatever the code does.
    vials_consumed = models.PositiveIntegerField(default=0, editable=False)

    objects = ProductLotQuerySet.as_manager()

    class Meta:
        ordering = ["expiry_date", "lot_number"]
        permissions = [
            ("write_off_productlot", "Can record vials of a lot wasted or destroyed"),
            ("hold_productlot", "Can put a lot on hold (quarantine) or release it"),
            ("recall_productlot", "Can start a lot's recall and export its report"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(vials_consumed__gte=0) & Q(vials_consumed__lte=F("vials_received")),
                name="lot_stock_not_negative",
            ),
            models.UniqueConstraint(
                fields=["manufacturer", "lot_number"], name="lot_unique_per_manufacturer"
            ),
            models.CheckConstraint(
                condition=Q(exosomes_per_vial__gt=0), name="lot_exosomes_positive"
            ),
            models.CheckConstraint(condition=Q(vials_received__gt=0), name="lot_vials_positive"),
        ]

    def __str__(self):
        return f"{self.product_name} lot {self.lot_number} ({self.manufacturer})"

    @property
    def vials_on_hand(self) -> int:
        return self.vials_received - self.vials_consumed

    def warnings(self, today: date, *, expiry_days: int, low_stock: int) -> list[str]:
        """What the staff pages flag about this lot on `today` (settings give the limits)."""
        found = []
        if self.status in BLOCKED_LOT_STATUSES:
            found.append(self.get_status_display())
        if self.expiry_date < today:
            found.append(f"expired on {self.expiry_date:%d %b %Y}")
        elif (self.expiry_date - today).days <= expiry_days:
            found.append(f"expires {self.expiry_date:%d %b %Y}")
        if self.vials_on_hand == 0:
            found.append("out of stock")
        elif self.vials_on_hand <= low_stock:
            found.append(f"low stock: {self.vials_on_hand} vial(s)")
        return found

    def clean(self):
        if self.vials_received is not None and self.vials_received < self.vials_consumed:
            raise ValidationError(
                {
                    "vials_received": ValidationError(
                        "%(n)s vials of this lot are already used or written off.",
                        code="invalid",
                        params={"n": self.vials_consumed},
                    )
                }
            )

    def unusable_reason(self, day: date) -> str | None:
        """Why this lot may not be recorded on a session held on `day`, or None if it may."""
        if self.status == LotStatus.ON_HOLD:
            return (
                f"it is on hold ({self.status_reason})" if self.status_reason else "it is on hold"
            )
        if self.status == LotStatus.RECALLED:
            return "it has been recalled"
        if self.expiry_date < day:
            return f"it expired on {self.expiry_date:%d %B %Y}"
        if not (self.certificate_file and self.certificate_issuer and self.certificate_valid_until):
            return "its safety certificate (document, issuer, valid-until) is not on file"
        if self.certificate_valid_until < day:
            return f"its safety certificate expired on {self.certificate_valid_until:%d %B %Y}"
        return None


@pghistory.track()
class LotStatusChange(models.Model):
    """One change of a lot's quarantine state, append-only: who, when and why."""

    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="status_changes")
    status = models.CharField(max_length=12, choices=LotStatus.choices)
    reason = models.TextField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lot", "changed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="lot_status_change_has_reason")
        ]

    def __str__(self):
        return f"{self.lot} {self.get_status_display()} on {self.changed_at:%Y-%m-%d}"


@pghistory.track()
class LotWriteOff(models.Model):
    """Vials of a lot wasted or destroyed, append-only: they leave the stock."""

    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="write_offs")
    vials = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    reason = models.TextField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lot", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(vials__gt=0), name="lot_write_off_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="lot_write_off_has_reason"),
        ]

    def __str__(self):
        return f"{self.vials} × {self.lot} written off"


@pghistory.track()
class Recall(models.Model):
    """The recall of one lot: one per lot, so starting it again finds this one."""

    lot = models.OneToOneField(ProductLot, on_delete=models.PROTECT, related_name="recall")
    message = models.TextField(help_text="As the admin wrote it, with {product} and {lot}.")
    text = models.TextField(help_text="The message with the product and lot filled in.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Recall of {self.lot}"


class RecallContact(models.TextChoices):
    NONE = "", "Not recorded"
    PHONED = "phoned", "Phoned by staff"
    UNREACHABLE = "unreachable", "Unreachable"


@pghistory.track()
class RecallRecipient(models.Model):
    """One patient a recall must reach, once: the notices (reminders with this recipient)
    and what staff recorded by hand."""

    recall = models.ForeignKey(Recall, on_delete=models.PROTECT, related_name="recipients")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="recall_notices"
    )
    # The last session in which they received the lot (the outbox row hangs on it).
    session = models.ForeignKey("TreatmentSession", on_delete=models.PROTECT, related_name="+")
    # [{"date", "vials", "clinician"}] of every session with the lot, when the recall began.
    sessions = models.JSONField(default=list)
    contact = models.CharField(
        max_length=12, choices=RecallContact.choices, default=RecallContact.NONE, blank=True
    )
    contact_note = models.TextField(blank=True)
    contact_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contact_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["recall", "id"]
        constraints = [
            models.UniqueConstraint(fields=["recall", "patient"], name="recall_patient_once"),
        ]

    def __str__(self):
        return f"{self.patient} in {self.recall}"


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Sessions that count for the six-month rule and occupy their clinician and room.
LIVE_STATUSES = (SessionStatus.SCHEDULED, SessionStatus.CONFIRMED, SessionStatus.COMPLETED)
# Sessions that can still be moved, cancelled, completed or marked no-show.
OPEN_STATUSES = (SessionStatus.SCHEDULED, SessionStatus.CONFIRMED)


def nsaid_review_pending(takes_prescribed_nsaid: bool, nsaid_decided_at) -> bool:
    """A session waits for a clinician's NSAID decision: its patient takes a prescribed
    NSAID and no decision is on file (TreatmentSession.nsaid_review_pending; lists that read
    plain values ask this)."""
    return bool(takes_prescribed_nsaid and not nsaid_decided_at)


@pghistory.track()
class TreatmentSession(models.Model):
    """One treatment of one patient.

    `local_date` (the calendar day of the start on its site's clock) and `gap_until` (the
    first day a later session may take place, by the protocol version booked under) are
    derived by treatments.rules when the session is booked or moved, and stored so
    PostgreSQL can hold the six-month rule in an exclusion constraint (see migration 0002).

    Its clock is its site's (`tz`): every time a person reads about it is on that clock,
    named (treatments.formatting.session_when and its kin).
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="sessions"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clinician_sessions"
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="sessions")
    # The room's site, when booked or moved: its clock gives local_date.
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="sessions", default=default_site_id
    )
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    cancellation_reason = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    protocol = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="sessions")
    gap_months = models.PositiveSmallIntegerField(help_text="Copied from the protocol version.")
    local_date = models.DateField(help_text="The session's day on its site's clock.")
    gap_until = models.DateField(help_text="The first day a later session may take place.")

    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(default=timezone.now)
    reschedule_count = models.PositiveSmallIntegerField(default=0, editable=False)
    # The booking form's one-time key: a double click or a resubmitted form books once.
    booking_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    # The patient answered a reminder with "C"/"YES" (reminders.services.receive_sms).
    confirmed_by_patient_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The last move (reschedule_session); the full trail of changes is a later addition.
    rescheduled_at = models.DateTimeField(null=True, blank=True)
    rescheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    no_show_recorded_at = models.DateTimeField(null=True, blank=True)
    no_show_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # Short-notice bookings: staff record that the patient confirmed no NSAID since the
    # window's first day.
    nsaid_free_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Patients on a prescribed NSAID: a clinician's recorded decision (the current one; every
    # version is an NsaidDecision row).
    nsaid_decision = models.TextField(blank=True)
    nsaid_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    nsaid_decided_at = models.DateTimeField(null=True, blank=True)
    # Booked at short notice by the front desk while the clinician's decision is awaited: the
    # booking is allowed, completing it still needs the decision.
    nsaid_decision_awaited = models.BooleanField(default=False)

    # Booked or moved outside opening/working hours, in an absence or an out-of-service
    # room, on purpose: who decided it and why (the last booking or move).
    availability_override_reason = models.TextField(blank=True)
    availability_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)
    side_effects = models.TextField(blank=True)
    lots = models.ManyToManyField(ProductLot, through="SessionVial", related_name="sessions")
    # The version of the completed session's record (notes, side effects, vials): 1 when
    # completed, one more with each amendment (services.amend_session_record). A form opened
    # on version n is refused once another is saved; earlier versions are
    # SessionRecordRevision rows.
    record_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        permissions = [
            ("record_nsaid_decision", "Can record the clinician's decision on a prescribed NSAID"),
            ("complete_treatmentsession", "Can complete a treatment session"),
            (
                "amend_session_record",
                "Can amend a completed session's record (notes, side effects, vials)",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="session_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(gap_months__gte=1), name="session_gap_positive"),
            models.CheckConstraint(
                condition=Q(gap_until__gt=F("local_date")), name="session_gap_until_after_day"
            ),
            models.CheckConstraint(
                condition=~Q(status=SessionStatus.CANCELLED) | ~Q(cancellation_reason=""),
                name="session_cancellation_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=SessionStatus.COMPLETED) | Q(completed_at__isnull=False),
                name="session_completed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "local_date"], name="session_patient_day_idx"),
            models.Index(fields=["clinician", "starts_at"], name="session_clinician_idx"),
            models.Index(fields=["room", "starts_at"], name="session_room_idx"),
            models.Index(fields=["starts_at"], name="session_starts_idx"),
            models.Index(fields=["local_date", "starts_at"], name="session_schedule_idx"),
            # The recall list walks live sessions by the end of their gap, soonest first
            # (treatments.recall.due_patients), instead of grouping every patient's sessions.
            models.Index(
                fields=["gap_until"],
                condition=Q(status__in=LIVE_STATUSES),
                name="session_live_gap_until_idx",
            ),
            # The slot finder's busy times (a month of one site's live sessions: 26,000 rows at
            # 1,000,000 patients) read from the index alone, not from rows all over the table.
            models.Index(
                fields=["starts_at"],
                include=["ends_at", "clinician", "room", "id"],
                condition=Q(status__in=LIVE_STATUSES),
                name="session_live_busy_idx",
            ),
        ]

    def __str__(self):
        return f"{self.patient} on {self.local_date:%d %b %Y} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def nsaid_review_pending(self) -> bool:
        """The patient takes a prescribed NSAID and no clinician decision is on file."""
        return nsaid_review_pending(self.patient.takes_prescribed_nsaid, self.nsaid_decided_at)

    @property
    def tz(self) -> ZoneInfo:
        """The session's clock: its site's. The one home of "the zone of a session": its day
        (`local_date`) and every time shown of it (pages, messages, .ics) are on it. Lists
        select_related("site") so this costs no query."""
        return self.site.tz

    def patient_day(self) -> date:
        """The session's day on the patient's own calendar (their NSAID window counts from it)."""
        return rules.local_day(self.starts_at, self.patient.tz)

    def nsaid_window(self) -> rules.NsaidWindow:
        return rules.nsaid_window(self.patient_day(), terms=self.protocol.terms)

    def set_calendar_days(self, site_tz: ZoneInfo) -> None:
        """Derive local_date (on the site's clock) and gap_until from starts_at and the
        session's gap."""
        self.local_date = rules.local_day(self.starts_at, site_tz)
        self.gap_until = rules.earliest_next_session(self.local_date, gap_months=self.gap_months)

    def as_booked_day(self) -> rules.BookedDay:
        return rules.BookedDay(self.local_date, self.gap_months)


@pghistory.track()
class SessionVial(models.Model):
    """Vials of one lot used in one session: the trail a recall follows."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="vials_used"
    )
    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="uses")
    vials = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "lot"], name="session_vial_lot_once"),
            models.CheckConstraint(condition=Q(vials__gt=0), name="session_vial_count_positive"),
        ]

    def __str__(self):
        return f"{self.vials} × {self.lot}"


class SessionRecordRevision(models.Model):
    """One version of a completed session's record, append-only: kept from its first
    amendment on (version 1, what complete_session recorded, then each amendment with its
    reason). The session row and its SessionVial rows hold the current version; this keeps
    what they said before, who wrote it and why it was amended. A database trigger refuses
    UPDATE and DELETE on PostgreSQL (migration 0014), so the session cannot be deleted
    either (PROTECT): an amended record is evidence.

    `vials` is [{"lot_id", "lot_number", "product_name", "manufacturer", "expiry_date",
    "vials"}]: the lot's identity as it was, so a recall (selectors.lot_recipients) still
    finds a lot an amendment replaced."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="record_revisions"
    )
    version = models.PositiveIntegerField()
    notes = models.TextField(blank=True)
    side_effects = models.TextField(blank=True)
    vials = models.JSONField(default=list)
    # None only for a version whose author is unknown (completed by hand, e.g. raw data).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    reason = models.TextField(blank=True, help_text="Why the earlier version was amended.")

    class Meta:
        ordering = ["session", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "version"], name="session_record_version_once"
            ),
            models.CheckConstraint(
                condition=Q(version__lte=1) | ~Q(reason=""),
                name="session_record_amendment_has_reason",
            ),
        ]

    def __str__(self):
        return f"Version {self.version} of the record of session {self.session_id}"


@pghistory.track()
class NsaidDecision(models.Model):
    """One version of a clinician's decision on a prescribed NSAID for a session, append-only:
    the session holds the current one; a revision adds a row with its reason."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="nsaid_decisions"
    )
    decision = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()
    reason = models.TextField(blank=True, help_text="Why an earlier decision was revised.")

    class Meta:
        ordering = ["session", "decided_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(decision=""), name="nsaid_decision_not_empty"),
        ]

    def __str__(self):
        return f"NSAID decision for {self.session_id} at {self.decided_at:%Y-%m-%d %H:%M}"


class FollowUpKind(models.TextChoices):
    # The day-0 record taken at the session itself (treatments.baseline): never planned,
    # created when a clinician records it, so it is never due, overdue or reminded.
    BASELINE = "baseline", _("Baseline (day 0)")
    AFTERCARE_CHECK = "aftercare_check", _("Aftercare check")
    EARLY_RESULT = "early_result", _("Early result")
    ASSESSMENT = "assessment", _("Assessment")
    LONG_TERM = "long_term", _("Long-term")


class FollowUpStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class FollowUpFindings(models.Model):
    """What a follow-up found: held by the follow-up (its current version) and by each of its
    revisions (every version ever recorded), so both always carry the same fields."""

    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True)  # when it was recorded as done
    # The day the patient was actually seen (may be before the day it was recorded).
    seen_on = models.DateField("seen on", null=True, blank=True)
    notes = models.TextField(blank=True)
    side_effects = models.TextField(blank=True)
    hair_density_per_cm2 = models.DecimalField(
        "hair density (hairs/cm²)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1000)],
    )
    shaft_thickness_um = models.DecimalField(
        "shaft thickness (µm)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
    )
    patient_rating = models.PositiveSmallIntegerField(
        "patient's own rating (1–10)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    shared_with_patient = models.BooleanField(
        default=False, help_text="Notes and photos are shown to the patient in the portal."
    )

    class Meta:
        abstract = True


FINDING_FIELDS = tuple(f.name for f in FollowUpFindings._meta.local_fields)


class FollowUpQuerySet(models.QuerySet):
    """The one home of what "overdue" and "upcoming" mean (the review, its CSV and counts,
    the patient page, the portal and the reminders all ask here)."""

    def overdue(self, today: date):
        return self.filter(overdue_on(today))

    def upcoming(self, today: date):
        return self.filter(upcoming_on(today))

    def due_now(self, today: date):
        return self.filter(due_now_on(today))

    def later(self, today: date):
        return self.filter(later_than(today))


def overdue_on(today: date) -> Q:
    """Planned and its due date has passed: nobody recorded it yet."""
    return Q(status=FollowUpStatus.PLANNED, due_date__lt=today)


def due_by(today: date) -> Q:
    """Planned and due today or before: it may be recorded as missed now."""
    return Q(status=FollowUpStatus.PLANNED, due_date__lte=today)


def upcoming_on(today: date) -> Q:
    """Planned and due today or later."""
    return Q(status=FollowUpStatus.PLANNED, due_date__gte=today)


def due_now_on(today: date) -> Q:
    """Planned and `today` lies in its window (due_from..due_until, the protocol's ± days
    around the due date): the follow-ups to arrange or hold now."""
    return Q(status=FollowUpStatus.PLANNED, due_from__lte=today, due_until__gte=today)


def later_than(today: date) -> Q:
    """Planned and its window has not begun yet: "Upcoming" in the review."""
    return Q(status=FollowUpStatus.PLANNED, due_from__gt=today)


@pghistory.track()
class FollowUp(FollowUpFindings):
    """A planned look at the result of one session, and what was found."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="follow_ups"
    )
    kind = models.CharField(max_length=20, choices=FollowUpKind.choices)
    due_date = models.DateField()
    # Its window by the session's protocol (treatments.rules.follow_up_window), stored like
    # the due date so a new protocol version never moves it.
    due_from = models.DateField()
    due_until = models.DateField()
    status = models.CharField(
        max_length=12, choices=FollowUpStatus.choices, default=FollowUpStatus.PLANNED
    )
    recorded_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # How many times it was recorded (first record and amendments): each one is a
    # FollowUpRevision, and a form opened on version n is refused once another is saved.
    version = models.PositiveIntegerField(default=0, editable=False)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        permissions = [
            (
                "record_findings",
                "Can record a follow-up's findings (done, notes, measurements, photos, sharing)",
            ),
            ("review_followup", "Can review every patient's follow-ups and mark them missed"),
            ("export_followup", "Can export the follow-up review as CSV"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "kind"], name="follow_up_kind_once"),
            models.CheckConstraint(
                condition=Q(patient_rating__isnull=True)
                | Q(patient_rating__gte=1, patient_rating__lte=10),
                name="follow_up_rating_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(hair_density_per_cm2__isnull=True) | Q(hair_density_per_cm2__gte=0),
                name="follow_up_density_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(shaft_thickness_um__isnull=True) | Q(shaft_thickness_um__gt=0),
                name="follow_up_thickness_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status=FollowUpStatus.DONE) | Q(seen_by__isnull=False),
                name="follow_up_done_has_clinician",
            ),
            models.CheckConstraint(
                condition=Q(due_from__lte=F("due_date")) & Q(due_until__gte=F("due_date")),
                name="follow_up_window_around_due_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"], name="follow_up_status_due_idx"),
            # Covers the review's counts by due date and status (index-only scans).
            models.Index(fields=["due_date", "status"], name="follow_up_due_status_idx"),
            models.Index(
                fields=["due_date"],
                condition=Q(status=FollowUpStatus.PLANNED),
                name="follow_up_planned_due_idx",
            ),
            # Planned follow-ups by window, with the due date: the review's three counts of
            # planned ones read only this index (treatments.selectors.follow_up_counts).
            models.Index(
                fields=["due_from", "due_until", "due_date"],
                condition=Q(status=FollowUpStatus.PLANNED),
                name="follow_up_planned_window_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.session} (due {self.due_date:%d %b %Y})"

    def is_overdue(self, today: date) -> bool:
        """overdue_on(today), for a follow-up already in hand."""
        return self.status == FollowUpStatus.PLANNED and self.due_date < today

    def is_due_by(self, today: date) -> bool:
        """due_by(today), for a follow-up already in hand."""
        return self.status == FollowUpStatus.PLANNED and self.due_date <= today

    def is_open_for_recording(self, today: date) -> bool:
        """Its window has begun: it may be recorded (done or missed) from due_from on."""
        return today >= self.due_from

    def is_upcoming(self, today: date) -> bool:
        """upcoming_on(today), for a follow-up already in hand."""
        return self.status == FollowUpStatus.PLANNED and self.due_date >= today


class FollowUpRevision(FollowUpFindings):
    """One recorded version of a follow-up, append-only: the first record and every
    amendment. The follow-up row holds the current version; this keeps what it said before,
    who wrote it and, for an amendment, why (a database trigger refuses UPDATE on
    PostgreSQL, migration 0009)."""

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=FollowUpStatus.choices)
    photos_added = models.PositiveSmallIntegerField(default=0)
    # None only for a version recorded before revisions were kept (its author is unknown).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    reason = models.TextField(blank=True, help_text="Why an earlier version was amended.")

    class Meta:
        ordering = ["follow_up", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["follow_up", "version"], name="follow_up_revision_version_once"
            ),
            models.CheckConstraint(
                condition=Q(version__lte=1) | ~Q(reason=""),
                name="follow_up_amendment_has_reason",
            ),
        ]

    def __str__(self):
        return f"Version {self.version} of {self.follow_up_id} ({self.status})"


class PhotoView(models.TextChoices):
    TOP = "top", _("Top")
    FRONT = "front", _("Hairline (front)")
    CROWN = "crown", _("Crown")
    LEFT = "left", _("Left side")
    RIGHT = "right", _("Right side")


@pghistory.track()
class FollowUpPhoto(models.Model):
    """A standardised photo taken at a follow-up. Served only through permission-checking views."""

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="photos")
    view = models.CharField(max_length=10, choices=PhotoView.choices)
    image = models.ImageField(upload_to="follow-ups/%Y/%m/", validators=[validate_photo])
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["follow_up", "view", "id"]

    def __str__(self):
        return f"{self.get_view_display()} photo of {self.follow_up}"

    def save(self, *args, **kwargs):
        # Whatever the write path (service, admin), only a re-encoded picture is stored.
        if self._state.adding and self.image and not getattr(self.image, "_committed", True):
            self.image = photos.reencode(self.image)
        super().save(*args, **kwargs)


# --- What patients report and ask from the portal ---------------------------------------


@pghistory.track()
class SideEffectReport(models.Model):
    """A side effect the patient reported from the portal: a flag for staff until resolved."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="side_effect_reports"
    )
    session = models.ForeignKey(
        TreatmentSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="side_effect_reports",
    )
    description = models.TextField()
    reported_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff_note = models.TextField(blank=True)

    class Meta:
        db_table = "portal_sideeffectreport"  # made by the portal app; moved here as it is
        ordering = ["-reported_at"]
        indexes = [
            models.Index(
                fields=["patient"],
                condition=Q(resolved_at__isnull=True),
                name="side_effect_open_idx",
            )
        ]

    def __str__(self):
        return f"Side effect reported by {self.patient} on {self.reported_at:%d %b %Y}"


@pghistory.track()
class ChangeRequest(models.Model):
    """The patient asks to move or cancel a session; staff act on it with the usual services,
    so the six-month rule and the NSAID window still apply."""

    class Kind(models.TextChoices):
        RESCHEDULE = "reschedule", _("Move the session")
        CANCEL = "cancel", _("Cancel the session")

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="change_requests"
    )
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.TextField(blank=True, help_text="E.g. the dates that would suit.")
    requested_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(
        blank=True, help_text="What was done, in words for the patient (shown in the portal)."
    )

    class Meta:
        db_table = "portal_changerequest"  # made by the portal app; moved here as it is
        ordering = ["-requested_at"]
        indexes = [
            models.Index(
                fields=["patient"],
                condition=Q(handled_at__isnull=True),
                name="change_request_open_idx",
            )
        ]
        constraints = [
            # One open request a session, even when the patient clicks twice at once.
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(handled_at__isnull=True),
                name="change_request_one_open_per_session",
            ),
            models.CheckConstraint(
                condition=Q(handled_at__isnull=True) | ~Q(outcome=""),
                name="change_request_handled_has_outcome",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} requested by {self.patient}"


@pghistory.track()
class BookingRequest(models.Model):
    """With SELF_BOOKING_NEEDS_APPROVAL on: the time a patient picked in the portal, for the
    front desk to book (through book_session, so every rule is checked again) or decline."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="booking_requests"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    requested_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session = models.ForeignKey(
        TreatmentSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True, help_text="Why declined, in words for the patient.")

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            # One open request a patient, even when the patient clicks twice at once.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(handled_at__isnull=True),
                name="booking_request_one_open_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(handled_at__isnull=True) | ~Q(outcome="") | Q(session__isnull=False),
                name="booking_request_handled_has_outcome",
            ),
        ]

    def __str__(self):
        return f"Booking request of {self.patient} for {self.starts_at:%d %b %Y %H:%M}"

    @property
    def tz(self) -> ZoneInfo:
        """The requested time's clock: its site's, as a session's (TreatmentSession.tz)."""
        return self.site.tz


# --- The waitlist -------------------------------------------------------------------------


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    BOOKED = "booked", "Booked through an offer"
    WITHDRAWN = "withdrawn", "Left the waitlist"


@pghistory.track()
class WaitlistEntry(models.Model):
    """A patient asking for an earlier date at a site than the first free one: offered the
    slots that free up there (treatments.waitlist), in the order the patients joined."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    # Only days up to this one (on the site's calendar) are offered; none: any day.
    not_after = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    session = models.ForeignKey(
        TreatmentSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            # One live entry a patient, even when the patient clicks twice at once.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="waiting"),
                name="waitlist_one_live_entry_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(status="waiting", closed_at__isnull=True)
                | (~Q(status="waiting") & Q(closed_at__isnull=False)),
                name="waitlist_entry_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="booked") | Q(session__isnull=False),
                name="waitlist_entry_booked_has_session",
            ),
        ]
        indexes = [
            models.Index(
                fields=["site", "created_at"],
                condition=Q(status="waiting"),
                name="waitlist_waiting_idx",
            )
        ]

    def __str__(self):
        return f"{self.patient} waiting at {self.site} ({self.status})"


class FreedSlotStatus(models.TextChoices):
    OPEN = "open", "Being offered"
    BOOKED = "booked", "Booked through the waitlist"
    CLOSED = "closed", "Closed"


@pghistory.track()
class FreedSlot(models.Model):
    """The time a cancelled or moved session left free, recorded in that change's own
    transaction: the waitlist offers it to one waiting patient after another until one
    accepts, nobody suits any more, or it is gone (treatments.waitlist)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The session that left it, and its reschedule count then: one row per change.
    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="+")
    occasion = models.PositiveSmallIntegerField()
    freed_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=8, choices=FreedSlotStatus.choices, default=FreedSlotStatus.OPEN
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            # A replayed signal (or a retried change) records nothing twice.
            models.UniqueConstraint(
                fields=["session", "occasion"], name="freed_slot_once_per_change"
            ),
            # One clinician's time is offered as one slot, however often it was freed.
            models.UniqueConstraint(
                fields=["clinician", "starts_at"],
                condition=Q(status="open"),
                name="freed_slot_one_open_per_clinician_start",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="freed_slot_ends_after_start"
            ),
        ]
        indexes = [
            models.Index(
                fields=["starts_at"], condition=Q(status="open"), name="freed_slot_open_idx"
            )
        ]

    def __str__(self):
        return f"Freed slot at {self.site} {self.starts_at:%Y-%m-%d %H:%M} ({self.status})"


class OfferStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    GONE = "gone", "The time was gone"


@pghistory.track()
class WaitlistOffer(models.Model):
    """A freed slot offered to one waiting patient, until `expires_at`. At most one live offer
    a slot (never two patients told at once that a time is free for them), at most one a
    patient, and each patient is offered a slot once."""

    freed_slot = models.ForeignKey(FreedSlot, on_delete=models.CASCADE, related_name="offers")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="waitlist_offers"
    )
    status = models.CharField(
        max_length=8, choices=OfferStatus.choices, default=OfferStatus.OFFERED
    )
    offered_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    session = models.ForeignKey(
        TreatmentSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["offered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["freed_slot"],
                condition=Q(status="offered"),
                name="waitlist_offer_one_live_per_slot",
            ),
            models.UniqueConstraint(
                fields=["entry"],
                condition=Q(status="offered"),
                name="waitlist_offer_one_live_per_entry",
            ),
            models.UniqueConstraint(
                fields=["freed_slot", "entry"], name="waitlist_offer_once_per_patient"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("offered_at")),
                name="waitlist_offer_expires_after_offered",
            ),
            models.CheckConstraint(
                condition=(Q(status="accepted") & Q(session__isnull=False))
                | (~Q(status="accepted") & Q(session__isnull=True)),
                name="waitlist_offer_accepted_has_session",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="offered"), name="waitlist_offer_live_idx"
            )
        ]

    def __str__(self):
        return f"Offer to {self.patient} ({self.status})"
