"""Uploaded photos and certificates in an S3-compatible bucket (README, "Running several web
and worker nodes"), against a local moto server (tests/s3.py): stored through the storage
API and never on the node's disk, served only through the permission-checking views as a
redirect to a short-lived signed URL that the page's CSP allows, a missing object a 404, a
store that does not answer a 503. The settings that select it, from the environment.
"""

import io
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from audit.models import RecordAccess
from audit.subject_access import subject_access_report
from clinic.storage_settings import (
    S3_BACKEND,
    StorageConfigError,
    parse_storage_url,
    s3_options,
)
from tests.factories import NOW, PatientFactory, ProductLotFactory, at, book
from tests.s3 import MotoServer
from tests.test_settings import PRODUCTION, manage
from treatments import services
from treatments.files import signed_url_origin
from treatments.models import FollowUpPhoto

pytestmark = pytest.mark.django_db


# --- Settings -------------------------------------------------------------------------------


def test_storage_url_names_bucket_prefix_credentials_endpoint_and_region():
    parsed = parse_storage_url(
        "s3://AKIA%2FX:se%2Bcret@clinic-media/berlin/photos"
        "?endpoint_url=https://s3.example.net:9000&region=eu-central-1"
    )
    assert parsed == {
        "bucket": "clinic-media",
        "location": "berlin/photos",
        "access_key": "AKIA/X",
        "secret_key": "se+cret",
        "endpoint_url": "https://s3.example.net:9000",
        "region": "eu-central-1",
        "addressing_style": "",
    }
    assert parse_storage_url("s3://bucket")["access_key"] == ""  # boto3's own chain


@pytest.mark.parametrize(
    "url",
    [
        "https://bucket.s3.amazonaws.com/",
        "s3://",
        "s3:///prefix",
        "s3://bucket?endpoint=https://x",  # a misspelt parameter is not silently ignored
    ],
)
def test_a_storage_url_that_is_not_one_refuses(url):
    with pytest.raises(StorageConfigError):
        parse_storage_url(url)


def test_s3_options_private_signed_short_lived_with_timeouts():
    options = s3_options(bucket="b", endpoint_url="https://minio.local", url_seconds=60)
    assert options["default_acl"] is None  # nothing public; a bucket without ACLs accepts it
    assert options["querystring_auth"] is True and options["querystring_expire"] == 60
    assert options["custom_domain"] is None  # a custom domain's URLs would be unsigned
    assert options["file_overwrite"] is False
    assert options["object_parameters"] == {"CacheControl": "private, no-store"}
    config = options["client_config"]
    assert config.connect_timeout == 5.0 and config.read_timeout == 5.0
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert config.s3 == {"addressing_style": "path"}  # an own endpoint: path style
    assert s3_options(bucket="b")["client_config"].s3 == {"addressing_style": "virtual"}
    with pytest.raises(StorageConfigError):
        s3_options(bucket="b", endpoint_url="ftp://x")
    with pytest.raises(StorageConfigError):
        s3_options(bucket="")


def test_the_environment_selects_the_bucket_and_production_refuses_plain_http():
    show = (
        "from django.conf import settings; s = settings.STORAGES['default']; "
        "print(s['BACKEND'], s['OPTIONS']['bucket_name'], s['OPTIONS']['location'])"
    )
    result = manage(
        "shell",
        "-c",
        show,
        env={"DEBUG": "1", "STORAGE_URL": "s3://k:s@clinic-media/berlin?region=eu-central-1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [S3_BACKEND, "clinic-media", "berlin"]
    result = manage(
        "check",
        env={**PRODUCTION, "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "http://m:9000"},
    )
    assert result.returncode != 0 and "must be https://" in result.stderr


def test_files_stay_on_disk_by_default(settings):
    assert settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
    assert signed_url_origin() is None  # the views stream; the CSP is unchanged


# --- Against a local S3 server --------------------------------------------------------------


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def s3(settings, moto):
    bucket = moto.new_bucket()
    options = s3_options(
        **parse_storage_url(moto.storage_url(bucket)), url_seconds=60, timeout=1.0, attempts=2
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": options},
    }
    return SimpleNamespace(moto=moto, bucket=bucket, client=moto.client())


def png(color="white", size=(20, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def recorded_photo(upload: bytes = b"", *, patient=None) -> FollowUpPhoto:
    """A follow-up recorded with one photo through the service (as the page does)."""
    session = book(patient=patient, day=date(2027, 1, 4), hour=8, now=at(date(2026, 12, 20), 9))
    services.complete_session(
        session=session, vials=[(ProductLotFactory(), 1)], completed_by=session.clinician, now=NOW
    )
    follow_up = session.follow_ups.get(kind="aftercare_check")
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=session.clinician,
        shared_with_patient=True,
        photos=[("top", SimpleUploadedFile("top.png", upload or png(), "image/png"))],
        now=NOW,
    )
    return FollowUpPhoto.objects.get(follow_up=follow_up)


def fetch(url: str):
    """(status, headers (any case), body) of a plain GET, as a browser would follow it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_an_upload_goes_to_the_bucket_never_to_the_disk(s3, settings, frozen):
    photo = recorded_photo()
    key = f"media/{photo.image.name}"
    assert [k for k in s3.moto.keys(s3.bucket) if "follow-ups" in k] == [key]
    assert photo.image.name.startswith("follow-ups/2027/")
    assert not settings.MEDIA_ROOT.exists()  # nothing on this node's disk
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentType"] == "image/png" and head["CacheControl"] == "private, no-store"
    grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]  # the owner's alone
    assert all("URI" not in g["Grantee"] for g in grants)  # no AllUsers / AuthenticatedUsers
    # Stored re-encoded, through the storage API: the same picture read back.
    with photo.image.open("rb") as stored, Image.open(stored) as image:
        assert image.size == (20, 20)


def test_staff_get_a_short_lived_signed_redirect_with_the_bytes_behind_it(
    s3, clinician_client, frozen
):
    photo = recorded_photo()
    response = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    url = response["Location"]
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == s3.moto.endpoint
    assert query["X-Amz-Expires"] == ["60"] and query["X-Amz-Signature"]
    assert query["response-cache-control"] == ["private, no-store"]
    assert query["response-content-type"] == ["image/png"]
    assert query["response-content-disposition"] == [
        f'inline; filename="follow-up-photo-{photo.pk}.png"'
    ]
    status, headers, body = fetch(url)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "private, no-store"  # the signed override
    assert headers["Content-Disposition"].startswith("inline;")
    assert (
        body
        == s3.client.get_object(Bucket=s3.bucket, Key=f"media/{photo.image.name}")["Body"].read()
    )
    # The access is logged before the URL is handed out, as on disk.
    assert RecordAccess.objects.filter(object_id=photo.pk, user=clinician_client.user).exists()


def test_the_page_that_embeds_photos_allows_the_stores_origin_only(s3, clinician_client, frozen):
    photo = recorded_photo()
    patient_id = photo.follow_up.session.patient_id
    page = clinician_client.get(reverse("photo_compare", args=[patient_id]))
    assert page.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in page["Content-Security-Policy"].split(";"))
    assert policy["img-src"].split() == ["'self'", "data:", s3.moto.endpoint]
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    redirect = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))["Location"]
    assert redirect.startswith(s3.moto.endpoint + "/")  # what the img-src allows


def test_who_may_not_see_the_photo_gets_no_url(s3, staff_client, patient_client, frozen):
    photo = recorded_photo()
    refused = staff_client.get(reverse("follow_up_photo", args=[photo.pk]))  # front desk
    assert refused.status_code == 403 and "Location" not in refused
    other_patient = patient_client.get(reverse("portal_photo", args=[photo.pk]))
    assert other_patient.status_code in (403, 404) and "Location" not in other_patient


def test_the_patient_gets_their_shared_photo_through_the_portal(s3, client, frozen):
    from accounts import roles
    from tests.factories import UserFactory

    patient = PatientFactory()
    photo = recorded_photo(patient=patient)
    patient.user = UserFactory(role=roles.PATIENT)
    patient.save(update_fields=["user"])
    user = patient.user
    client.force_login(user)
    response = client.get(reverse("portal_photo", args=[photo.pk]))
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
    assert fetch(response["Location"])[0] == 200


def test_a_missing_object_is_a_404_not_a_500(s3, clinician_client, frozen):
    photo = recorded_photo()
    s3.client.delete_object(Bucket=s3.bucket, Key=f"media/{photo.image.name}")
    response = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))
    assert response.status_code == 404


def test_a_store_that_does_not_answer_is_a_503_not_a_500(s3, settings, clinician_client, frozen):
    photo = recorded_photo()
    closed = s3_options(
        **parse_storage_url(
            s3.moto.storage_url(s3.bucket).replace(s3.moto.endpoint, "http://127.0.0.1:9")
        ),
        timeout=1.0,
        attempts=1,
    )
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": S3_BACKEND, "OPTIONS": closed}}
    response = clinician_client.get(reverse("follow_up_photo", args=[photo.pk]))
    assert response.status_code == 503 and response["Retry-After"] == "10"
    # The subject-access report still opens; the photo's hash says it could not be read.
    report = subject_access_report(photo.follow_up.session.patient, photo_hashes=True)
    assert [p["sha256"] for p in report["photos"]] == [None]


def test_a_refused_recording_leaves_no_file_behind(s3, frozen):
    patient = PatientFactory(consents=False)  # no photo consent: the service refuses
    session = book(patient=patient, day=date(2027, 1, 4), hour=8, now=at(date(2026, 12, 20), 9))
    follow_up = session.follow_ups.get(kind="aftercare_check")
    with pytest.raises(ValidationError):
        services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=session.clinician,
            photos=[("top", SimpleUploadedFile("top.png", png(), "image/png"))],
            now=NOW + timedelta(days=1),
        )
    assert s3.moto.keys(s3.bucket) == []
    assert not FollowUpPhoto.objects.exists()


def test_the_subject_access_report_hashes_the_stored_object(s3, frozen):
    import hashlib

    photo = recorded_photo()
    body = s3.client.get_object(Bucket=s3.bucket, Key=f"media/{photo.image.name}")["Body"].read()
    report = subject_access_report(photo.follow_up.session.patient, photo_hashes=True)
    assert [p["sha256"] for p in report["photos"]] == [hashlib.sha256(body).hexdigest()]


def test_the_lot_certificate_only_through_its_view_as_a_download(
    s3, clinician_client, patient_client, frozen
):
    lot = ProductLotFactory()
    lot.certificate_file.save("tuev.pdf", ContentFile(b"%PDF-1.4 certificate"))
    assert f"media/{lot.certificate_file.name}" in s3.moto.keys(s3.bucket)
    response = clinician_client.get(reverse("lot_certificate", args=[lot.pk]))
    assert response.status_code == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(response["Location"]).query)
    assert query["response-content-disposition"] == [
        f'attachment; filename="certificate-lot-{lot.pk}.pdf"'
    ]
    assert query["response-content-type"] == ["application/pdf"]
    assert fetch(response["Location"])[2] == b"%PDF-1.4 certificate"
    assert patient_client.get(reverse("lot_certificate", args=[lot.pk])).status_code in (302, 403)
    assert "X-Amz" not in patient_client.get(reverse("lot_certificate", args=[lot.pk])).get(
        "Location", ""
    )
    page = clinician_client.get(reverse("lot_detail", args=[lot.pk])).content.decode()
    assert reverse("lot_certificate", args=[lot.pk]) in page
    assert "X-Amz" not in page  # no storage URL on the page itself


def test_the_certificate_from_disk_is_a_download_too(clinician_client, frozen):
    lot = ProductLotFactory()
    response = clinician_client.get(reverse("lot_certificate", args=[lot.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="certificate-lot-{lot.pk}.pdf"'
    assert b"".join(response.streaming_content) == b"%PDF-1.4 ok"
    assert "no-store" in response["Cache-Control"]
    lot.certificate_file = ""
    lot.save()
    assert clinician_client.get(reverse("lot_certificate", args=[lot.pk])).status_code == 404


def test_the_admin_links_files_through_the_views_never_the_store(s3, client, frozen):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("boss", "boss@clinic.test", "pw-for-tests"))
    photo = recorded_photo()
    lot = ProductLotFactory()
    pages = {
        reverse("admin:treatments_followup_change", args=[photo.follow_up_id]): reverse(
            "follow_up_photo", args=[photo.pk]
        ),
        reverse("admin:treatments_productlot_change", args=[lot.pk]): reverse(
            "lot_certificate", args=[lot.pk]
        ),
    }
    for page, served_by in pages.items():
        html = client.get(page).content.decode()
        assert f'href="{served_by}"' in html, page
        assert "X-Amz" not in html and s3.moto.endpoint not in html, page


def test_a_store_that_does_not_take_the_photo_is_a_form_error(s3, settings, clinician_client):
    from tests.test_views_front_office import completed_session

    follow_up = completed_session().follow_ups.get(kind="aftercare_check")
    dead = s3.moto.storage_url(s3.bucket).replace(s3.moto.endpoint, "http://127.0.0.1:9")
    options = s3_options(**parse_storage_url(dead), timeout=1.0, attempts=1)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": options},
    }
    response = clinician_client.post(
        reverse("follow_up_record", args=[follow_up.pk]),
        {
            "status": "done",
            "version": 0,
            "photo_top": SimpleUploadedFile("top.png", png(), content_type="image/png"),
        },
    )
    assert response.status_code == 200
    assert "photo store is not answering" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.status == "planned" and not FollowUpPhoto.objects.exists()


def test_the_baseline_stores_its_photos_before_its_lock_and_removes_them_if_refused(s3, frozen):
    from tests.test_baseline import completed_session as baseline_session
    from treatments import baseline

    session = baseline_session()
    with pytest.raises(ValidationError) as refused:
        baseline.record_baseline(
            session=session,
            recorded_by=session.clinician,
            photos=[("top", SimpleUploadedFile("top.png", png(), "image/png"))],
            now=at(date(2027, 1, 5)),  # the day after: no longer day 0
        )
    assert refused.value.code == "baseline_day_passed"
    assert [k for k in s3.moto.keys(s3.bucket) if "follow-ups" in k] == []
    recorded = baseline.record_baseline(
        session=session,
        recorded_by=session.clinician,
        hair_density_per_cm2=60,
        photos=[("top", SimpleUploadedFile("top.png", png(), "image/png"))],
        now=NOW,
    )
    photo = recorded.photos.get()
    assert [k for k in s3.moto.keys(s3.bucket) if "follow-ups" in k] == [
        f"media/{photo.image.name}"
    ]
    assert recorded.revisions.get().photos_added == 1
