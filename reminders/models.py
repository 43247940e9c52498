"""The outbox: one row per message to send, and the log of every try to send it.

These tables were made by the treatments app (migration treatments 0004) and moved here with
their rows (reminders 0001, state only), so they keep their names.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ReminderKind(models.TextChoices):
    BOOKING_CONFIRMATION = "booking_confirmation", "Booking confirmation"
    NSAID_STOP = "nsaid_stop", "NSAID stop"
    DAY_BEFORE = "day_before", "Day before"
    AFTERCARE = "aftercare", "Aftercare"
    NSAID_END = "nsaid_end", "NSAID end"
    FOLLOW_UP_DUE = "follow_up_due", "Follow-up due"
    NEXT_SESSION_ELIGIBLE = "next_session_eligible", "Next session eligible"
    CANCELLATION = "cancellation", "Cancellation notice"
    REQUEST_ANSWERED = "request_answered", "Answer to the patient's request"
    RECALL = "recall", "Product recall notice"
    WAITLIST_OFFER = "waitlist_offer", "Waitlist: a time has become free"


# Sent whatever the patient's opt-out of non-essential messages says.
ESSENTIAL_KINDS = frozenset(
    {
        ReminderKind.BOOKING_CONFIRMATION,
        ReminderKind.NSAID_STOP,
        ReminderKind.AFTERCARE,
        ReminderKind.CANCELLATION,
        ReminderKind.REQUEST_ANSWERED,
        ReminderKind.RECALL,
        ReminderKind.WAITLIST_OFFER,
    }
)

# Sent once because something happened (not planned from the session's dates): planning
# leaves them alone.
ONE_OFF_KINDS = frozenset(
    {
        ReminderKind.CANCELLATION,
        ReminderKind.REQUEST_ANSWERED,
        ReminderKind.RECALL,
        ReminderKind.WAITLIST_OFFER,
    }
)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class ReminderState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class DeliveryStatus(models.TextChoices):
    """What the provider's status callbacks report after it took the message."""

    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent to the carrier"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"


class Reminder(models.Model):
    """One message to one patient on one channel: the outbox row a worker delivers.

    Each (session or follow-up, kind, channel) exists once, so no code path can queue a
    reminder twice. A worker claims due rows by taking a lease (`leased_until`); one killed
    mid-send leaves the row pending, and it is claimed again once the lease runs out.
    """

    # The session it is about. None only for a waitlist offer: the recipient is the
    # offer's patient, who may have no session yet (the time offered was someone else's).
    session = models.ForeignKey(
        "treatments.TreatmentSession",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    follow_up = models.ForeignKey(
        "treatments.FollowUp",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    # A recall notice: the patient the recall must reach (session is their last one with
    # the lot); one row per recipient and channel, however often the recall is started.
    recall_recipient = models.ForeignKey(
        "treatments.RecallRecipient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    # A waitlist offer's notice: one row per offer and channel (treatments.waitlist).
    waitlist_offer = models.ForeignKey(
        "treatments.WaitlistOffer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notices",
    )
    kind = models.CharField(max_length=24, choices=ReminderKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # The session's reschedule count when planned: a moved session gets fresh reminders for
    # its new date while those already sent for the old one stay in the log.
    occasion = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(
        max_length=12, choices=ReminderState.choices, default=ReminderState.PENDING
    )
    due_at = models.DateTimeField(help_text="When it is meant to go out (UTC).")
    expires_at = models.DateTimeField(help_text="It is never sent at or after this instant.")
    not_before = models.DateTimeField(help_text="When a worker may next try (retries back off).")
    attempts = models.PositiveSmallIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_note = models.TextField(blank=True, help_text="Why it failed or was withdrawn.")
    # What the SMS provider said: its id for the message (Twilio's MessageSid), and the
    # delivery status its callbacks reported (reminders.services.record_delivery_status).
    provider_message_id = models.CharField(max_length=64, blank=True, default="")
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, blank=True, default=""
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "treatments_reminder"  # made by the treatments app; moved here as it is
        ordering = ["due_at", "id"]
        permissions = [
            ("monitor_delivery", "Can see the delivery status and every failed reminder"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "kind", "channel", "occasion"],
                condition=Q(follow_up__isnull=True, recall_recipient__isnull=True),
                name="reminder_once_per_session",
            ),
            models.UniqueConstraint(
                fields=["recall_recipient", "channel"],
                condition=Q(recall_recipient__isnull=False),
                name="reminder_recall_once_per_channel",
            ),
            models.UniqueConstraint(
                fields=["waitlist_offer", "channel"],
                condition=Q(waitlist_offer__isnull=False),
                name="reminder_waitlist_offer_once_per_channel",
            ),
            models.CheckConstraint(
                condition=Q(session__isnull=False) | Q(waitlist_offer__isnull=False),
                name="reminder_has_session_or_offer",
            ),
            models.UniqueConstraint(
                fields=["follow_up", "kind", "channel"],
                condition=Q(follow_up__isnull=False),
                name="reminder_once_per_follow_up",
            ),
            models.CheckConstraint(
                condition=~Q(state=ReminderState.SENT) | Q(sent_at__isnull=False),
                name="reminder_sent_has_time",
            ),
        ]
        indexes = [
            # The dispatcher's hot path: few pending rows among millions of sent ones.
            models.Index(
                fields=["not_before"],
                condition=Q(state=ReminderState.PENDING),
                name="reminder_pending_idx",
            ),
            models.Index(
                fields=["updated_at"],
                condition=Q(state=ReminderState.FAILED),
                name="reminder_failed_idx",
            ),
            # The dispatcher reads the batch it just leased by its lease (few rows hold one).
            models.Index(
                fields=["lease_token"],
                condition=Q(lease_token__isnull=False),
                name="reminder_lease_idx",
            ),
            # A status callback finds its reminder by the provider's message id.
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="reminder_provider_id_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.get_channel_display()} ({self.state})"

    @property
    def patient(self):
        """Who it goes to: the session's patient, or a waitlist offer's."""
        if self.session_id is None:
            return self.waitlist_offer.patient
        return self.session.patient


class DeliveryAttempt(models.Model):
    """One try at handing a reminder to its channel: the delivery log staff read."""

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField()
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    provider_message_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "treatments_deliveryattempt"  # made by the treatments app; moved as it is
        ordering = ["attempted_at", "id"]

    def __str__(self):
        return f"{'OK' if self.succeeded else 'failed'} at {self.attempted_at:%Y-%m-%d %H:%M}"


class DeliveryStatusEvent(models.Model):
    """One status callback from the SMS provider, kept once per (message, status): a replayed
    or duplicated callback finds its row already there and changes nothing."""

    message_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    error_code = models.CharField(max_length=16, blank=True)
    reminder = models.ForeignKey(
        Reminder, null=True, blank=True, on_delete=models.SET_NULL, related_name="status_events"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message_sid", "status"], name="delivery_status_event_once"
            )
        ]

    def __str__(self):
        return f"{self.message_sid}: {self.status}"


class InboundKind(models.TextChoices):
    OPT_OUT = "opt_out", "Stop (SMS turned off)"
    OPT_IN = "opt_in", "Start (SMS turned on)"
    CONFIRM = "confirm", "Confirmed the next session"
    MESSAGE = "message", "Message for the front desk"


class InboundMessage(models.Model):
    """An SMS a patient (or anyone) sent to the clinic's number. Linked to a patient only when
    exactly one patient has that number in E.164; otherwise kept unlinked, never guessed."""

    provider_message_id = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, blank=True)
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=InboundKind.choices)
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_messages",
    )
    # What was done about it ("SMS turned off; 3 planned SMS withdrawn"), or why not.
    outcome = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("read_inbox", "Can read the SMS patients send and mark them read"),
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(read_at__isnull=True, kind="message"),
                name="inbound_unread_idx",
            ),
            models.Index(fields=["patient", "received_at"], name="inbound_patient_idx"),
        ]

    def __str__(self):
        return f"SMS from {self.from_number} ({self.kind})"
