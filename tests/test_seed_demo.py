"""seed_demo: a clinic at every stage, twice without duplicates, on PostgreSQL and SQLite."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from patients.models import IntakeVersion, Patient
from tests.conftest import TEST_REDIS_URL
from treatments.models import FollowUp, TreatmentSession

ROOT = Path(__file__).resolve().parent.parent


def counts():
    return (
        User.objects.count(),
        Patient.objects.count(),
        TreatmentSession.objects.count(),
        FollowUp.objects.count(),
    )


@pytest.mark.django_db
def test_seed_twice_duplicates_nothing():
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    assert first[1] == 9
    assert Patient.objects.filter(sessions__isnull=True).count() == 1  # the new patient
    assert Patient.objects.filter(takes_prescribed_nsaid=True, sessions__isnull=False).exists()
    assert TreatmentSession.objects.filter(status="completed").count() == 3
    # The admin's first page (the follow-up review, overdue) is not empty (issue 12, item 18).
    today = timezone.localdate()
    assert FollowUp.objects.filter(
        status="planned", due_date__lt=today - timedelta(days=14)
    ).exists()
    assert User.objects.filter(username="dr.meyer", groups__name="Clinician").exists()
    # Intake: one patient's waits for the clinician's review (issue 14, item 4).
    assert IntakeVersion.objects.filter(reviewed_at__isnull=True).count() == 1
    assert IntakeVersion.objects.count() == 8  # everyone but the new patient
    # Each consent state: signed (at the desk too), missing, withdrawn.
    from consents.models import Consent

    assert Patient.objects.filter(consents__isnull=True).count() == 3
    assert Consent.objects.filter(withdrawn_at__isnull=False).count() == 1
    assert Consent.objects.filter(signed_via="desk", witnessed_by__isnull=False).exists()
    assert Consent.objects.filter(signed_via="portal").exists()


def test_embedded_sqlite_default_migrates_and_seeds(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        # The tests' Redis (cache and broker): the demo's bookings nudge the dispatcher, and
        # in the default broker the nudges waited for the next `make run`'s worker.
        "REDIS_URL": TEST_REDIS_URL,
    }
    for args in (["migrate", "-v0"], ["seed_demo"], ["seed_demo"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    assert "0 new patients" in result.stdout
    assert "dr.meyer" in result.stdout
    # The worker of `make run` delivers the demo's due reminders there too: the dispatcher's
    # statements are PostgreSQL's, with their SQLite form (reminders.delivery._execute).
    dispatched = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", DISPATCH_ON_SQLITE],
        cwd=ROOT,
        env={**env, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dispatched.returncode == 0, dispatched.stderr
    figures = json.loads(dispatched.stdout.strip().splitlines()[-1])
    assert figures["due"] > 0 and figures["left_due"] == 0, figures
    assert figures["sent"] > 0 and figures["logged"] == figures["sent"], figures
    assert figures["outbox"] == figures["sent_by_email"] > 0, figures
    assert figures["leased"] == 0 and figures["again"] == 0, figures
    assert figures["logged_for_patient"] > 0, figures  # the message log's UNION runs there too


DISPATCH_ON_SQLITE = """
import json
from django.core import mail
from django.utils import timezone
from patients.models import Patient
from reminders.delivery import dispatch_due
from reminders.models import DeliveryAttempt, Reminder
from reminders.selectors import message_log
due = Reminder.objects.filter(state="pending", not_before__lte=timezone.now())
first_patient = Patient.objects.filter(sessions__isnull=False).order_by("pk").first()
before = due.count()
dispatch_due(max_seconds=60)
print(json.dumps({
    "due": before,
    "left_due": due.count(),
    "sent": Reminder.objects.filter(state="sent").count(),
    "logged": DeliveryAttempt.objects.filter(succeeded=True).count(),
    "sent_by_email": Reminder.objects.filter(state="sent", channel="email").count(),
    "outbox": len(mail.outbox),
    "leased": Reminder.objects.filter(lease_token__isnull=False).count(),
    "again": dispatch_due(max_seconds=60)["claimed"],
    "logged_for_patient": len(message_log(first_patient, offset=0, limit=26)),
}))
"""


@pytest.mark.django_db
def test_the_admins_first_page_shows_the_overdue_follow_up(client):
    call_command("seed_demo")
    client.force_login(User.objects.get(username="admin"))
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/follow-ups/review/")
    assert "Klein" in response.content.decode()
