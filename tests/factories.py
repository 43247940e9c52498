"""Test data. Sessions are always made through treatments.services (see `book`)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import factory
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory

from accounts import roles
from patients.models import IntakeVersion, Patient
from treatments import services
from treatments.models import ProductLot, Room

BERLIN = ZoneInfo("Europe/Berlin")
# A fixed "now" for the services: Monday 4 January 2027, 09:00 in the clinic.
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=BERLIN)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.test")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


def clinician(**kwargs) -> User:
    return UserFactory(role=roles.CLINICIAN, **kwargs)


def staff(**kwargs) -> User:
    return UserFactory(role=roles.CLINIC_STAFF, **kwargs)


class PatientFactory(DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = factory.Sequence(lambda n: f"Ient{n}")
    date_of_birth = date(1985, 5, 17)
    email = factory.Sequence(lambda n: f"patient{n}@example.test")
    phone = "+49 170 1234567"
    time_zone = "Europe/Berlin"
    contact_consent_at = datetime(2026, 12, 1, 12, 0, tzinfo=BERLIN)

    @factory.post_generation
    def consents(self, create, extracted, **kwargs):
        """By default the patient has signed every consent published (the migration's
        defaults): most tests are not about consent. `PatientFactory(consents=False)` makes
        a patient who signed nothing."""
        if create and extracted is not False:
            sign_current_consents(self)

    @factory.post_generation
    def intake(self, create, extracted, **kwargs):
        """A reviewed intake by default, so completing a first session is not refused
        (`intake_required`); `PatientFactory(intake=False)` makes a patient without one."""
        if create and extracted is not False:
            reviewed_intake(self)


# Before every "now" the tests use.
INTAKE_AT = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)


def reviewed_intake(patient, *, at: datetime = INTAKE_AT) -> IntakeVersion:
    """A reviewed intake version for the patient, written directly (no service). Its author
    holds no role, so it never shows up where clinicians are listed."""
    reviewer = UserFactory()
    return IntakeVersion.objects.create(
        patient=patient,
        number=1,
        smoking="never",
        alcohol="occasional",
        submitted_by=reviewer,
        submitted_at=at,
        reviewed_by=reviewer,
        reviewed_at=at,
    )


class RoomFactory(DjangoModelFactory):
    class Meta:
        model = Room

    name = factory.Sequence(lambda n: f"Room {n}")


class ProductLotFactory(DjangoModelFactory):
    class Meta:
        model = ProductLot

    product_name = "ExoHair 400"
    manufacturer = "VesiclePharm GmbH"
    lot_number = factory.Sequence(lambda n: f"LOT-{n:05d}")
    expiry_date = date(2030, 12, 31)
    vials_received = 50
    certificate_file = factory.django.FileField(filename="certificate.pdf", data=b"%PDF-1.4 ok")
    certificate_issuer = "TÜV Süd"
    certificate_valid_until = date(2030, 12, 31)


def sign_current_consents(patient, *, kinds=None) -> list:
    """Sign, as the patient in the portal, the current version of each document (or of the
    given kinds), straight into the table (no service checks: test set-up)."""
    from consents.models import Consent, ConsentVersion, SignedVia

    newest: dict[int, ConsentVersion] = {}
    for version in ConsentVersion.objects.filter(published_at__isnull=False).select_related(
        "document"
    ):
        if kinds is not None and version.document.kind not in kinds:
            continue
        if version.document_id not in newest or version.number > newest[version.document_id].number:
            newest[version.document_id] = version
    return [
        Consent.objects.create(
            patient=patient,
            version=version,
            shown_sha256=version.sha256,
            signed_at=datetime(2026, 12, 1, 12, 0, tzinfo=BERLIN),
            typed_name=patient.full_name,
            statements=list(version.statements),
            signed_via=SignedVia.PORTAL,
        )
        for version in newest.values()
    ]


def at(day: date, hour: int = 10, minute: int = 0, tz: ZoneInfo = BERLIN) -> datetime:
    """An aware datetime at a local wall-clock time."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def book(
    patient=None,
    day: date = date(2027, 3, 10),
    hour: int = 10,
    *,
    minutes: int = 60,
    clinician_user=None,
    room=None,
    booked_by=None,
    now: datetime = NOW,
    **kwargs,
):
    """Book through the real service, with sensible defaults for everything not under test."""
    doctor = clinician_user or clinician()
    starts = at(day, hour)
    return services.book_session(
        patient=patient or PatientFactory(),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes),
        clinician=doctor,
        room=room or RoomFactory(),
        booked_by=booked_by or doctor,
        now=now,
        **kwargs,
    )


def complete(session, *, vials: int = 1):
    """Complete a session through the real service, at its end, by its clinician, with
    `vials` of a new lot (its follow-ups are planned then)."""
    services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), vials)],
        completed_by=session.clinician,
        now=session.ends_at,
    )
    return session


def pending_intake(patient, *, now: datetime = INTAKE_AT, **answers) -> IntakeVersion:
    """A submitted intake waiting for a clinician's review, through the real service."""
    from patients.intake import submit_intake

    return submit_intake(
        patient=patient,
        submitted_by=UserFactory(),
        answers={"smoking": "never", "alcohol": "none", **answers},
        medications=[("Vitamin D", "1000 IU", "2024")],
        now=now,
    )


def reconfirm(patient, *, at: datetime):
    """The patient's "nothing changed" about their newest intake at `at` (before a later
    session: after the previous one was completed)."""
    from patients.intake import reconfirm_intake

    return reconfirm_intake(patient=patient, confirmed_by=UserFactory(), now=at)
