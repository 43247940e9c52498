"""Writing the access log: one INSERT a page, with what the page already has in hand."""

from collections.abc import Iterable

from django.utils import timezone

from .models import AccessKind, RecordAccess

PATH_MAX = RecordAccess._meta.get_field("path").max_length


def record_access(
    *,
    user,
    patient_id: int,
    kind: AccessKind,
    path: str,
    ip: str | None,
    object_id: int | None = None,
) -> RecordAccess:
    """Note that `user` read patient `patient_id`'s record (one INSERT, no other query:
    the caller passes the ids it already holds)."""
    return RecordAccess.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        patient_id=patient_id,
        kind=kind,
        object_id=object_id,
        path=path[:PATH_MAX],
        ip=ip,
    )


def record_export(
    *, user, patient_ids: Iterable[int], path: str, ip: str | None
) -> list[RecordAccess]:
    """One row for each patient in an export, all in one INSERT statement."""
    at = timezone.now()
    rows = [
        RecordAccess(
            user_id=user.pk,
            username=user.get_username(),
            patient_id=patient_id,
            kind=AccessKind.EXPORT,
            path=path[:PATH_MAX],
            ip=ip,
            at=at,
        )
        for patient_id in dict.fromkeys(patient_ids)
    ]
    if not rows:
        return []
    return RecordAccess.objects.bulk_create(rows)  # one statement on PostgreSQL
