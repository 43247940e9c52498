"""Settings come from the environment; production settings pass `check --deploy`."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core import checks

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x9#Lk2!vQp7@rT4zW8$mN3^bC6&hJ1*dF5(gY0)sA-eU=iO+oP_lK~jH`nB",
    "ALLOWED_HOSTS": "clinic.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/clinic",
    "EMAIL_URL": "smtp+tls://clinic:secret@mail.example.com:587",
}


def manage(*args, env):
    # The developer's or the test run's own settings must not leak into "production".
    unset = (
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "EMAIL_URL",
        "EMAIL_BACKEND",
        "SMS_BACKEND",
        "ALLOW_CONSOLE_MESSAGES",
    )
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_no_secret_key_outside_debug_refuses_to_start():
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_unknown_clinic_time_zone_refuses_to_start():
    result = manage("check", env={"DEBUG": "1", "CLINIC_TIME_ZONE": "Europe/Atlantis"})
    assert result.returncode != 0
    assert "CLINIC_TIME_ZONE" in result.stderr


def test_production_refuses_the_console_email_backend():
    """It would print invitation links and patients' names to the log."""
    env = {k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"}  # default: consolemail://
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "django.core.mail.backends.console.EmailBackend would print" in result.stderr


def test_production_refuses_the_console_sms_backend():
    env = {**PRODUCTION, "SMS_BACKEND": "reminders.channels.ConsoleSmsBackend"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ConsoleSmsBackend would print" in result.stderr


def test_production_allows_console_messages_only_when_told():
    env = {k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"}
    result = manage("check", env={**env, "ALLOW_CONSOLE_MESSAGES": "1"})
    assert result.returncode == 0, result.stderr


def test_production_sms_is_off_until_a_provider_is_set():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SMS_BACKEND)",
        env=PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reminders.channels.DisabledSmsBackend"


@pytest.mark.parametrize("hour", [8, 21])
def test_the_model_checks_pass_at_any_time_of_day(hour):
    """Django's fields.W161 warns of a fixed date or time default when the check runs within
    10 s of it: the quiet hours' defaults (21:00, 08:00) made `check --deploy` fail at those
    moments. Run at exactly those times (UTC, as the check compares)."""
    with time_machine.travel(datetime(2026, 11, 26, hour, tzinfo=UTC), tick=False):
        found = checks.run_checks(tags=[checks.Tags.models])
    assert [m for m in found if m.id == "fields.W161"] == []
