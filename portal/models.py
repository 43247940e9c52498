from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SideEffectReport(models.Model):
    """A side effect the patient reported from the portal: a flag for staff until resolved."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="side_effect_reports"
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession",
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


class ChangeRequest(models.Model):
    """The patient asks to move or cancel a session; staff act on it with the usual services,
    so the six-month rule and the NSAID window still apply."""

    class Kind(models.TextChoices):
        RESCHEDULE = "reschedule", "Move the session"
        CANCEL = "cancel", "Cancel the session"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="change_requests"
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession", on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.TextField(blank=True, help_text="E.g. the dates that would suit.")
    requested_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
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
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} requested by {self.patient}"
