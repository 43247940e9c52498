"""
A believable demo clinic: staff with known logins, rooms, lots, and patients at every stage
of the protocol. Sessions are made through treatments.services (with a "now" in the past
where the story needs it), so the demo data obeys every rule. Running it again adds nothing.
"""

import importlib
from datetime import date, datetime, time, timedelta
from io import BytesIO

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image

from accounts import roles
from consents.models import ConsentVersion
from consents.selectors import current_versions
from consents.services import (
    DESK_PERMISSION,
    WITHDRAW_PERMISSION,
    sign_consent,
    withdraw_consent,
)
from patients.intake import review_intake, submit_intake
from patients.models import Patient
from patients.services import register_patient
from sites.models import OpeningHours, Site, WorkingHours
from treatments import baseline, services
from treatments.db import history_context
from treatments.models import FollowUpStatus, PhotoView, ProductLot, Room

DEMO_PASSWORD = "demo-clinic-2026"  # noqa: S105 - printed on purpose: demo logins only

# Only the clinic admin may open the Django admin (is_staff); the front desk and the
# clinicians work in the front office, where every change goes through the services.
STAFF = [
    ("admin", "Clinic", "Admin", roles.CLINIC_ADMIN, True),
    ("reception", "Rita", "Reception", roles.CLINIC_STAFF, False),
    ("dr.meyer", "Anna", "Meyer", roles.CLINICIAN, False),
    ("dr.okafor", "Chidi", "Okafor", roles.CLINICIAN, False),
]

# (first, last, email, stage, extra registration fields)
PATIENTS = [
    ("Jonas", "Becker", "jonas.becker@example.com", "new", {}),
    ("Maria", "Santos", "maria.santos@example.com", "booked", {"time_zone": "Europe/Lisbon"}),
    ("Lukas", "Schmidt", "lukas.schmidt@example.com", "in_window", {}),
    ("Emma", "Wagner", "emma.wagner@example.com", "today", {}),
    ("Sofia", "Rossi", "sofia.rossi@example.com", "in_follow_up", {"time_zone": "Europe/Rome"}),
    ("David", "Cohen", "david.cohen@example.com", "eligible_again", {}),
    (
        "Peter",
        "Hoffmann",
        "peter.hoffmann@example.com",
        "prescribed_nsaid",
        {"takes_prescribed_nsaid": True, "prescribed_nsaid": "Aspirin 100 mg daily (cardiology)"},
    ),
    (
        "Olivia",
        "Brown",
        "olivia.brown@example.com",
        "today",
        {"time_zone": "America/New_York", "reminders_by_sms": True},
    ),
    # Missed her 3-month check three weeks ago: the admin's follow-up review opens on her.
    ("Hannah", "Klein", "hannah.klein@example.com", "overdue_follow_up", {}),
]

# Consent states (by stage): signed everything unless named here.
CONSENT_MISSING = ("booked", "today")  # Maria (portal: sees what to sign) and Emma, Olivia
CONSENT_WITHDRAWN = ("in_window",)  # Lukas withdrew his treatment consent

# Demo patients who can sign in to the portal (one per interesting stage).
PATIENT_LOGINS = [
    "maria.santos@example.com",
    "lukas.schmidt@example.com",
    "sofia.rossi@example.com",
    "peter.hoffmann@example.com",
]


class Command(BaseCommand):
    help = "Create a demo clinic with staff logins and patients at every stage (idempotent)."

    def handle(self, *args, **options):
        # The rows this writes are in the history as the command's, not as "unknown".
        with history_context(actor="system: seed_demo"):
            return self._seed(*args, **options)

    def _seed(self, *args, **options):
        with transaction.atomic():
            users = self._staff()
            rooms = [Room.objects.get_or_create(name=n)[0] for n in ("Room 1", "Room 2")]
            self._hours(rooms[0].site, users)
            lot = self._lot()
            self._consent_documents()
            created = 0
            for index, (first, last, email, stage, extra) in enumerate(PATIENTS):
                if Patient.objects.filter(email__iexact=email).exists():
                    continue
                patient = register_patient(
                    first_name=first,
                    last_name=last,
                    date_of_birth=date(1970 + 3 * index, 1 + index, 10 + index),
                    email=email,
                    phone=f"+49 170 555 01{index:02d}",
                    contact_consent_at=timezone.now(),
                    medications="Minoxidil 5% topical" if index % 2 else "",
                    **extra,
                )
                self._story(patient, stage, users, rooms[index % 2], lot, slot=index)
                created += 1
            self._patient_logins()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new patients)."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, _, _, role, _ in STAFF:
            self.stdout.write(f"  {username:<28} {role}")
        for email in PATIENT_LOGINS:
            stage = next(p[3] for p in PATIENTS if p[2] == email).replace("_", " ")
            self.stdout.write(f"  {email:<28} Patient ({stage})")
        self._say_how_sign_in_works()

    def _say_how_sign_in_works(self):
        """Two-factor sign-in, plainly: whether this server asks for it, and how to enrol."""
        if settings.STAFF_2FA_REQUIRED:
            self.stdout.write(
                "Two-factor sign-in is ON here (STAFF_2FA_REQUIRED=1): after the password,\n"
                "  dr.meyer, dr.okafor and admin are asked to scan a QR code with an\n"
                "  authenticator app (FreeOTP, Aegis, Google/Microsoft Authenticator) and type\n"
                "  its 6-digit code; then they keep 10 recovery codes. Reception and patients\n"
                "  may set it up under 'Two-factor' in the top bar."
            )
        else:
            self.stdout.write(
                "Two-factor sign-in is OFF in this demo (DEBUG=1 sets STAFF_2FA_REQUIRED=0):\n"
                "  the password alone signs in. In production (DEBUG=0) clinicians and clinic\n"
                "  admins must add a code from an authenticator app. To try it here: sign in,\n"
                "  open 'Two-factor' in the top bar, scan the QR code, type the app's code;\n"
                "  signing in then asks for the code. STAFF_2FA_REQUIRED=1 make run requires it."
            )

    def _patient_logins(self):
        """Portal accounts for some demo patients: their email is their sign-in."""
        patient_group = Group.objects.get(name=roles.PATIENT)
        for email in PATIENT_LOGINS:
            patient = Patient.objects.get(email__iexact=email)
            if patient.user_id:
                continue
            user = User.objects.create_user(
                username=email,
                email=email,
                password=DEMO_PASSWORD,
                first_name=patient.first_name,
                last_name=patient.last_name,
            )
            user.groups.add(patient_group)
            patient.user = user
            patient.save(update_fields=["user"])

    def _hours(self, site: Site, users: dict[str, User]) -> None:
        """The demo site is open every day 08:00–20:00 (so the demo books on any day it is
        run), and both clinicians work there then: the slot finder has something to offer."""
        if site.opening_hours.exists():
            return
        for weekday in range(7):
            OpeningHours.objects.create(
                site=site, weekday=weekday, opens=time(8, 0), closes=time(20, 0)
            )
            for username in ("dr.meyer", "dr.okafor"):
                WorkingHours.objects.create(
                    site=site,
                    clinician=users[username],
                    weekday=weekday,
                    opens=time(8, 0),
                    closes=time(20, 0),
                )

    def _staff(self) -> dict[str, User]:
        users = {}
        for username, first, last, role, is_superuser in STAFF:
            user, made = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@clinic.example.com",
                    "is_staff": role == roles.CLINIC_ADMIN,
                    "is_superuser": is_superuser,
                },
            )
            if made:
                user.set_password(DEMO_PASSWORD)
                user.save()
                user.groups.add(Group.objects.get(name=role))
            elif user.is_staff != (role == roles.CLINIC_ADMIN):
                # A demo seeded before the admin was for clinic admins only.
                user.is_staff = role == roles.CLINIC_ADMIN
                user.save(update_fields=["is_staff"])
            users[username] = user
        return users

    def _lot(self) -> ProductLot:
        lot, made = ProductLot.objects.get_or_create(
            manufacturer="VesiclePharm GmbH",
            lot_number="VP-2026-0412",
            defaults={
                "product_name": "ExoHair 400",
                "expiry_date": timezone.localdate() + timedelta(days=540),
                "vials_received": 40,
                "certificate_issuer": "TÜV Süd Product Service",
                "certificate_valid_until": timezone.localdate() + timedelta(days=365),
                "received_on": timezone.localdate() - timedelta(days=400),
            },
        )
        if made:
            lot.certificate_file.save(
                "vp-2026-0412-certificate.pdf", ContentFile(b"%PDF-1.4 demo certificate")
            )
        return lot

    def _intake(self, patient, stage, desk, doctor):
        """The intake questionnaire, filled in at the desk before the first session and
        reviewed by the clinician; the "booked" patient's still waits for the review."""
        submitted = timezone.now() - timedelta(days=230)
        version = submit_intake(
            patient=patient,
            submitted_by=desk,
            answers={
                "medical_history": "No chronic illness."
                if stage != "prescribed_nsaid"
                else "Coronary stent (2021); on aspirin since.",
                "allergies": "",
                "smoking": "former" if patient.pk % 2 else "never",
                "alcohol": "occasional",
                "previous_hair_treatments": "Minoxidil 5% for a year" if patient.pk % 2 else "",
                "goals": "Stop the thinning at the crown.",
                "takes_prescribed_nsaid": patient.takes_prescribed_nsaid,
                "prescribed_nsaid": patient.prescribed_nsaid,
            },
            medications=[("Aspirin", "100 mg daily", "2021")]
            if patient.takes_prescribed_nsaid
            else [],
            now=submitted,
        )
        if stage != "booked":
            review_intake(version=version, reviewed_by=doctor, now=submitted + timedelta(hours=2))

    def _consent_documents(self):
        """The consents the migration publishes (a flushed database has none: again)."""
        if not ConsentVersion.objects.filter(published_at__isnull=False).exists():
            from django.apps import apps

            importlib.import_module(
                "consents.migrations.0001_consent_documents_versions_signatures"
            ).create_default_consents(apps, None)

    def _consents(self, patient, stage, users):
        """Each consent state in the demo: most patients signed everything (in the portal
        or, witnessed, at the desk); Maria (portal) and Emma (today, no portal) have signed
        nothing yet; Lukas withdrew his treatment consent two days before his session."""
        if stage in CONSENT_MISSING:
            return
        signed_at = timezone.now() - timedelta(days=220)
        # The front desk witnesses one (a "reception" account from an older demo may have
        # no role: then that signature is the patient's own in the portal).
        desk = users["reception"] if users["reception"].has_perm(DESK_PERMISSION) else None
        for version in current_versions(timezone.localdate()):
            consent = sign_consent(
                patient=patient,
                version=version,
                typed_name=patient.full_name,
                statements=version.statements,
                ip=None,
                user_agent="seed_demo",
                witnessed_by=desk if stage == "in_follow_up" else None,
                now=max(signed_at, version.published_at),
            )
            # Told the front desk; a role-less "reception" of an older demo cannot record
            # it, then the patient withdrew in the portal.
            withdrawer = (
                users["reception"]
                if users["reception"].has_perm(WITHDRAW_PERMISSION)
                else patient.user
            )
            if (
                stage in CONSENT_WITHDRAWN
                and version.document.kind == "treatment"
                and withdrawer is not None
            ):
                withdraw_consent(
                    consent=consent,
                    withdrawn_by=withdrawer,
                    reason="Wants to think it over (told the front desk by phone).",
                    now=timezone.now() - timedelta(days=1),
                )

    def _story(self, patient, stage, users, room, lot, slot):
        """Book (and where the story says so, carry out) the patient's sessions."""
        self._consents(patient, stage, users)
        if stage == "new":
            return
        tz = timezone.get_default_timezone()
        today = timezone.localdate()
        doctor = users["dr.meyer"] if slot % 2 else users["dr.okafor"]
        self._intake(patient, stage, users["reception"], doctor)

        def book(day: date, hour: int, booked_days_before: int):
            starts = datetime.combine(day, time(hour, 0), tzinfo=tz)
            return services.book_session(
                patient=patient,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                clinician=doctor,
                room=room,
                booked_by=users["reception"] if stage != "prescribed_nsaid" else doctor,
                nsaid_decision="Continue aspirin as prescribed; agreed with cardiology."
                if stage == "prescribed_nsaid"
                else "",
                now=starts - timedelta(days=booked_days_before),
            )

        def carry_out(session):
            return services.complete_session(
                session=session,
                vials=[(lot, 1)],
                completed_by=doctor,
                notes="Injected across the thinning area; tolerated well.",
                now=session.ends_at,
            )

        def follow_up(session, kind, density, rating, photos=()):
            services.record_follow_up(
                follow_up=session.follow_ups.get(kind=kind),
                status=FollowUpStatus.DONE,
                recorded_by=doctor,
                hair_density_per_cm2=density,
                patient_rating=rating,
                shared_with_patient=True,
                notes="Progress photos taken.",
                photos=[(view, demo_photo(9 + i)) for i, view in enumerate(photos)],
                # Recorded on its due day (a follow-up is recorded from its window on).
                now=datetime.combine(
                    session.follow_ups.get(kind=kind).due_date, time(11, 0), tzinfo=tz
                ),
            )

        if stage == "booked":
            book(today + timedelta(days=14), 10, 7)
        elif stage == "in_window":
            book(today + timedelta(days=2), 14, 10)
        elif stage == "today":
            book(today, 9 + slot, 20)  # distinct hours: 12:00 and 16:00
        elif stage == "prescribed_nsaid":
            book(today + timedelta(days=21), 11, 3)
        elif stage == "in_follow_up":
            session = carry_out(book(today - timedelta(days=60), 10, 14))
            # The day-0 baseline, right after the session: every standard view, measured.
            baseline.record_baseline(
                session=session,
                recorded_by=doctor,
                hair_density_per_cm2=96.0,
                shaft_thickness_um=58.0,
                patient_rating=4,
                shared_with_patient=True,
                notes="Baseline before the first injection.",
                photos=[(view, demo_photo(i)) for i, view in enumerate(PhotoView.values)],
                now=session.ends_at + timedelta(minutes=10),
            )
            follow_up(session, "aftercare_check", None, 6, photos=["top", "front"])
        elif stage == "overdue_follow_up":
            # The early result is due 3 months after the session: ~23 days ago.
            session = carry_out(book(today - timedelta(days=115), 11, 14))
            follow_up(session, "aftercare_check", None, 5)
        elif stage == "eligible_again":
            session = carry_out(book(today - timedelta(days=200), 15, 14))
            follow_up(session, "aftercare_check", None, 7)
            follow_up(session, "early_result", 118.0, 7)
            follow_up(session, "assessment", 131.5, 8)
        if settings.DEBUG:
            self.stdout.write(f"  {patient.full_name}: {stage.replace('_', ' ')}")


def demo_photo(shade: int) -> ContentFile:
    """A small plain picture standing in for a scalp photo (the demo has no real ones)."""
    buffer = BytesIO()
    Image.new("RGB", (320, 240), (90 + 12 * shade, 70 + 6 * shade, 60)).save(buffer, "JPEG")
    return ContentFile(buffer.getvalue(), name="demo.jpg")
