"""What the pages call to log a read: the request's user, path and address, passed on to
audit.services (which knows nothing of HTTP)."""

from .middleware import client_ip
from .models import AccessKind
from .services import record_access, record_export


def note_read(request, *, patient_id: int, kind: AccessKind, object_id: int | None = None):
    return record_access(
        user=request.user,
        patient_id=patient_id,
        kind=kind,
        object_id=object_id,
        path=request.get_full_path(),
        ip=client_ip(request),
    )


def note_export(request, *, patient_ids):
    return record_export(
        user=request.user,
        patient_ids=patient_ids,
        path=request.get_full_path(),
        ip=client_ip(request),
    )
