"""Security hardening that is not one page's business: passwords, sign-in and reset
throttles, the staff idle timeout, oversized uploads, and how photos are stored and served."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.forms import SetPasswordForm
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts import roles
from tests.factories import NOW, PatientFactory, ProductLotFactory, UserFactory, at, book
from treatments import services
from treatments.models import FollowUpPhoto

pytestmark = pytest.mark.django_db


# --- Passwords ------------------------------------------------------------------------------


def test_passwords_need_twelve_characters():
    user = UserFactory()
    short = SetPasswordForm(user, {"new_password1": "Qz8#mVt2pL4", "new_password2": "Qz8#mVt2pL4"})
    assert not short.is_valid()
    assert "at least 12 characters" in str(short.errors)
    ok = "Qz8#mVt2pL4w"
    assert SetPasswordForm(user, {"new_password1": ok, "new_password2": ok}).is_valid()


# --- Throttles ------------------------------------------------------------------------------


def _sign_in(client, username, ip, password="wrong password!"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_one_address_is_paused_after_failures_across_usernames(settings):
    """Password spraying: each username fails once, so axes' per-account lockout never fires."""
    settings.SIGN_IN_FAILURES_PER_IP = "5/h"
    client = Client()
    user = UserFactory(role=roles.CLINIC_STAFF)
    for n in range(5):
        assert _sign_in(client, f"nobody{n}", "203.0.113.7").status_code == 200
    paused = _sign_in(client, user.username, "203.0.113.7", password="correct horse battery")
    assert paused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not affected, and the right password works there.
    assert (
        _sign_in(Client(), user.username, "198.51.100.9", "correct horse battery").status_code
        == 302
    )


def test_successful_sign_ins_do_not_count(settings):
    """A clinic's front desk shares one address: its daily sign-ins must never pause it."""
    settings.SIGN_IN_FAILURES_PER_IP = "3/h"
    user = UserFactory(role=roles.CLINIC_STAFF)
    for _ in range(6):
        assert (
            _sign_in(Client(), user.username, "192.0.2.1", "correct horse battery").status_code
            == 302
        )


def test_sign_in_works_when_the_throttle_cache_is_down(settings):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    user = UserFactory(role=roles.CLINIC_STAFF)
    assert _sign_in(Client(), "nobody", "192.0.2.2").status_code == 200
    assert (
        _sign_in(Client(), user.username, "192.0.2.2", "correct horse battery").status_code == 302
    )


def test_password_reset_requests_are_throttled_per_email_and_per_address(settings, mailoutbox):
    settings.RESET_REQUESTS_PER_EMAIL = "2/h"
    settings.RESET_REQUESTS_PER_IP = "4/h"
    UserFactory(email="victim@example.com")
    url = reverse("password_reset")
    client = Client()
    codes = [
        client.post(url, {"email": "victim@example.com"}, REMOTE_ADDR=f"192.0.2.{n}").status_code
        for n in range(3)
    ]
    assert codes == [302, 302, 429]  # the third for the same email, whatever the address
    assert len(mailoutbox) == 2
    codes = [
        client.post(url, {"email": f"x{n}@example.com"}, REMOTE_ADDR="198.51.100.1").status_code
        for n in range(5)
    ]
    assert codes == [302, 302, 302, 302, 429]


# --- Staff idle timeout ---------------------------------------------------------------------


def test_staff_are_signed_out_after_the_idle_timeout(settings):
    settings.STAFF_IDLE_TIMEOUT_MINUTES = 30
    client = Client()
    with time_machine.travel(NOW, tick=False) as clock:
        client.force_login(UserFactory(role=roles.CLINIC_STAFF))
        assert client.get(reverse("patient_list")).status_code == 200
        clock.shift(timedelta(minutes=29))
        assert client.get(reverse("patient_list")).status_code == 200  # activity resets it
        clock.shift(timedelta(minutes=29))
        assert client.get(reverse("patient_list")).status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get(reverse("patient_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_patients_are_not_timed_out_like_staff(settings):
    settings.STAFF_IDLE_TIMEOUT_MINUTES = 30
    patient = PatientFactory()
    from patients.invitations import invite_patient

    user = invite_patient(patient=patient).user
    client = Client()
    with time_machine.travel(NOW, tick=False) as clock:
        client.force_login(user)
        assert client.get(reverse("portal_home")).status_code == 200
        clock.shift(timedelta(hours=2))
        assert client.get(reverse("portal_home")).status_code == 200


# --- Uploads and photos ---------------------------------------------------------------------


class _UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body of an oversized request was read")

    readline = read


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded"],
)
def test_an_oversized_request_is_refused_before_its_body_is_read(
    settings, clinician_client, content_type
):
    """Form and upload bodies included: no middleware (the NUL check reads POST) may parse
    the body before the size check has turned the request away."""
    settings.UPLOAD_MAX_BYTES = 1024
    response = clinician_client.post(
        reverse("patient_create"),
        content_type=content_type,
        CONTENT_LENGTH="5000000",
        **{"wsgi.input": _UnreadableBody()},
    )
    assert response.status_code == 413
    assert b"too large" in response.content


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (32, 24), "red")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPSInfo: latitude
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _photo(upload_bytes: bytes, name: str):
    session = book(day=NOW.date(), hour=8, now=at(NOW.date() - timedelta(days=15), 9))
    services.complete_session(
        session=session, vials=[(ProductLotFactory(), 1)], completed_by=session.clinician, now=NOW
    )
    follow_up = session.follow_ups.first()
    photo = FollowUpPhoto(
        follow_up=follow_up,
        view="top",
        image=SimpleUploadedFile(name, upload_bytes),
        uploaded_by=session.clinician,
    )
    photo.full_clean()
    photo.save()
    return photo


def test_photos_are_stored_re_encoded_without_metadata(frozen):
    original = _jpeg_with_gps()
    assert b"PhoneMaker" in original
    photo = _photo(original, "IMG_0001.JPG")
    stored = photo.image.read()
    assert b"PhoneMaker" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (32, 24)
        assert not image.getexif()
    assert photo.image.name.endswith(".jpg") and "IMG_0001" not in photo.image.name


def test_a_polyglot_keeps_only_its_picture(frozen):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, "PNG")
    polyglot = buffer.getvalue() + b"<html><script>alert(document.cookie)</script></html>"
    photo = _photo(polyglot, "evil.html.png")
    assert b"<script>" not in photo.image.read()


def test_photos_are_served_with_their_type_and_a_plain_name(frozen, clinician_client):
    photo = _photo(_jpeg_with_gps(), "x.php.jpg")
    response = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == f'inline; filename="follow-up-photo-{photo.pk}.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_reset_email_names_the_clinic_and_its_site_not_the_request_host(settings, mailoutbox):
    settings.SITE_URL = "https://clinic.example.com"
    UserFactory(email="maria@example.com")
    response = Client().post(
        reverse("password_reset"), {"email": "maria@example.com"}, HTTP_HOST="127.0.0.1:8000"
    )
    assert response.status_code == 302
    [email] = mailoutbox
    assert email.subject == f"Reset your password at {settings.CLINIC_NAME}"
    assert settings.CLINIC_NAME in email.body and settings.CLINIC_PHONE in email.body
    assert "https://clinic.example.com/accounts/reset/" in email.body
    assert "127.0.0.1" not in email.body
