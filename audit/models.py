"""Who looked at a patient's record: one row per page read, never changed afterwards.

The history of changes is kept by django-pghistory in each tracked app's event tables (see
README, "Audit trail"); this app keeps the reads, and reads both for the history pages.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessKind(models.TextChoices):
    PATIENT_PAGE = "patient_page", "Patient page"
    SESSION_PAGE = "session_page", "Session page"
    PHOTO = "photo", "Follow-up photo"
    EXPORT = "export", "Follow-up CSV export"
    SUBJECT_ACCESS = "subject_access", "Export of all the patient's data (access request)"
    HISTORY = "history", "History page"
    PORTAL = "portal", "Portal (the patient's own record)"


class RecordAccess(models.Model):
    """One read of a patient's record: who, which patient, what, from where, when.

    Written by audit.services with one INSERT a page (a CSV export: one bulk INSERT for all
    its patients). Append-only: a trigger refuses UPDATE and DELETE. The references carry no
    database constraint, so a user or patient removed later leaves the log whole (the
    username is copied for that reason).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150)
    # No index of its own: record_access_patient_idx (patient, -at, -id) serves every read by
    # patient, in the order pages show. With a plain patient index beside it, PostgreSQL on
    # statistics older than a busy patient's reads chose it, then read and sorted all of them
    # for a page of 25 (the bench patient's 39,104 reads: 6.5 ms, the history page's half).
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    kind = models.CharField(max_length=16, choices=AccessKind.choices)
    object_id = models.BigIntegerField(null=True, blank=True)
    path = models.CharField(max_length=500)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at", "-id"], name="record_access_patient_idx")]
        permissions = [
            (
                "view_record_history",
                "Can see a record's history: every change and who looked at it",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"{self.username} viewed {self.get_kind_display()} of {self.patient_id}"
