"""What a patient has signed, and what they still have to sign on a given day.

"Current on a day" is the newest version number of a document published on or before that
day (on the clinic's clock). Versions of one number in several languages are one consent:
a signature of any of them counts. A signature of a newer number counts for an older day.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from .models import Consent, ConsentDocument, ConsentKind, ConsentVersion


def _end_of(day: date) -> datetime:
    return datetime.combine(
        day + timedelta(days=1), time(0), tzinfo=ZoneInfo(settings.CLINIC_TIME_ZONE)
    )


def _published_by(day: date):
    return ConsentVersion.objects.filter(published_at__lt=_end_of(day)).select_related("document")


def _pick_language(versions: list[ConsentVersion], language: str) -> ConsentVersion:
    for version in versions:
        if version.language == language:
            return version
    return min(versions, key=lambda v: (v.language != "en", v.language))


def current_versions(on_day: date, language: str = "en") -> list[ConsentVersion]:
    """The current version of each document on `on_day` (one query), in `language` where it
    exists (else English, else any)."""
    by_document: dict[int, list[ConsentVersion]] = {}
    for version in _published_by(on_day).order_by("document__kind", "document_id", "-number"):
        same = by_document.setdefault(version.document_id, [])
        if not same or same[0].number == version.number:
            same.append(version)
    return [_pick_language(versions, language) for versions in by_document.values()]


def current_version(kind: str, on_day: date, language: str = "en") -> ConsentVersion | None:
    """The current version of the (first) document of `kind` on `on_day`, or None."""
    for version in current_versions(on_day, language):
        if version.document.kind == kind:
            return version
    return None


def active_consents(patient) -> list[Consent]:
    return list(
        Consent.objects.filter(patient=patient, withdrawn_at__isnull=True).select_related(
            "version__document"
        )
    )


def _covers(consents: list[Consent], version: ConsentVersion) -> bool:
    return any(
        c.version.document_id == version.document_id and c.version.number >= version.number
        for c in consents
    )


def missing_consents(
    patient, on_day: date, *, kinds: tuple[str, ...] | None = None, language: str | None = None
) -> list[ConsentVersion]:
    """The current versions on `on_day` the patient has not signed (or has withdrawn), in two
    queries whatever the number of documents; in the patient's language where it exists."""
    signed = active_consents(patient)
    return [
        version
        for version in current_versions(on_day, language or patient.language)
        if (kinds is None or version.document.kind in kinds) and not _covers(signed, version)
    ]


def has_photo_consent(patient) -> bool:
    """Whether the patient's photos may be shared with them: a photo consent they signed and
    have not withdrawn (any version). Where the clinic has published no photo consent at all,
    none is asked for (as `services.require_consent`): photos are shared as before."""
    if Consent.objects.filter(
        patient=patient, withdrawn_at__isnull=True, version__document__kind=ConsentKind.PHOTO
    ).exists():
        return True
    return not ConsentVersion.objects.filter(
        document__kind=ConsentKind.PHOTO, published_at__isnull=False
    ).exists()


@dataclass
class ConsentOverview:
    to_sign: list[ConsentVersion]
    signed: list[Consent]


def patient_overview(patient, on_day: date) -> ConsentOverview:
    """The portal's list: what to sign today (in the patient's language where the clinic
    has it, else English), and every signature (withdrawn ones too)."""
    signed = list(
        Consent.objects.filter(patient=patient).select_related(
            "version__document", "witnessed_by", "withdrawn_by"
        )
    )
    active = [c for c in signed if c.withdrawn_at is None]
    to_sign = [v for v in current_versions(on_day, patient.language) if not _covers(active, v)]
    return ConsentOverview(to_sign=to_sign, signed=signed)


def documents() -> list[ConsentDocument]:
    return list(ConsentDocument.objects.all())
