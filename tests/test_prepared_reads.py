"""The per-request reads compiled once (accounts/prepared.py): the same rows and checks as
the querysets they replace, and the session read from the cache."""

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles
from accounts.backends import ClinicModelBackend
from accounts.middleware import ClinicOTPMiddleware
from accounts.prepared import PreparedGet

pytestmark = pytest.mark.django_db


def test_prepared_get_builds_what_the_orm_builds():
    user = User.objects.create_user("ada", password="x" * 14, first_name="Ada")
    read = PreparedGet(lambda pk: User.objects.filter(pk=pk))
    got = read.get(user.pk)
    assert got is not None and got.pk == user.pk
    assert got.first_name == "Ada" and got.password == user.password
    assert got.last_login == user.last_login and got._state.adding is False
    assert read.get(user.pk + 1000) is None
    # A second call sends the same one statement.
    with CaptureQueriesContext(connection) as ctx:
        assert read.get(user.pk).username == "ada"
    assert len(ctx.captured_queries) == 1


def test_backend_reads_user_with_roles_and_refuses_inactive():
    user = User.objects.create_user("reception", password="x" * 14)
    user.groups.add(Group.objects.get_or_create(name=roles.CLINIC_STAFF)[0])
    got = ClinicModelBackend().get_user(user.pk)
    assert got.pk == user.pk and roles.CLINIC_STAFF in roles.roles_of(got)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert ClinicModelBackend().get_user(user.pk) is None
    assert ClinicModelBackend().get_user(user.pk + 1000) is None


class _Request:
    def __init__(self, session):
        self.session = session


def _verified_device(user, persistent_id):
    middleware = ClinicOTPMiddleware(lambda request: None)
    request = _Request({DEVICE_ID_SESSION_KEY: persistent_id})
    return middleware._verify_user_sync(request, user).otp_device, request.session


def test_otp_device_read_keeps_django_otps_checks():
    user = User.objects.create_user("dr", password="x" * 14)
    other = User.objects.create_user("dr2", password="x" * 14)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    found, session = _verified_device(user, device.persistent_id)
    assert found == device and DEVICE_ID_SESSION_KEY in session
    # Another user's device, an unconfirmed one, a deleted one, a malformed id: not verified,
    # and the session forgets the device.
    for who, pid in [
        (other, device.persistent_id),
        (user, "otp_totp.totpdevice/not-a-number"),
        (user, "no_such_app.device/1"),
        (user, "auth.user/1"),
    ]:
        found, session = _verified_device(who, pid)
        assert found is None and DEVICE_ID_SESSION_KEY not in session
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=False)
    assert _verified_device(user, device.persistent_id)[0] is None
    TOTPDevice.objects.filter(pk=device.pk).delete()
    assert _verified_device(user, device.persistent_id)[0] is None


def test_signed_in_page_reads_its_session_from_the_cache(client, settings):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    user = User.objects.create_user("pat", password="x" * 14)
    client.force_login(user)
    client.get("/ping")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/accounts/password_change/")
    assert not any("django_session" in q["sql"] for q in ctx.captured_queries)
