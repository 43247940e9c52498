"""The client's address behind a reverse proxy (accounts/addresses.py): the sign-in lock-out,
the access log and every other reader see the address the proxy appended, never one a client
wrote into X-Forwarded-For, and never the proxy's own."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import roles
from accounts.addresses import client_ip
from audit.models import RecordAccess
from tests.factories import PatientFactory, UserFactory

PROXY = "10.0.0.1"


def _request(forwarded=None, remote=PROXY):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.5", PROXY),  # no proxy trusted: the header is the client's invention
        (1, None, PROXY),  # nothing came through the proxy's header
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.2.3.4, 203.0.113.5", "203.0.113.5"),  # the left entry was forged
        (1, " 2001:db8::7 ", "2001:db8::7"),
        (1, "not an address", PROXY),
        (1, "", PROXY),
        (2, "203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "1.2.3.4, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", PROXY),  # fewer entries than proxies: it did not pass them all
    ],
)
def test_the_client_is_the_entry_the_outermost_trusted_proxy_appended(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request(forwarded)) == expected


def _sign_in(username, client_address, password="wrong password!"):
    return Client().post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=client_address,
    )


@pytest.mark.django_db
def test_behind_the_proxy_the_lock_out_is_per_client_address_not_per_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGN_IN_FAILURES_PER_IP = "1000/h"
    user = UserFactory(role=roles.CLINIC_STAFF)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(user.username, "203.0.113.66")
    locked = _sign_in(user.username, "203.0.113.66", "correct horse battery")
    assert locked.status_code != 302
    # The same username from the clinic's own address, through the same proxy, still works.
    assert _sign_in(user.username, "198.51.100.9", "correct horse battery").status_code == 302


@pytest.mark.django_db
def test_the_access_log_records_the_client_behind_the_proxy(settings, clinician_client):
    settings.TRUSTED_PROXY_COUNT = 1
    patient = PatientFactory()
    response = clinician_client.get(
        reverse("patient_detail", args=[patient.pk]),
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.23",
    )
    assert response.status_code == 200
    assert RecordAccess.objects.get(patient=patient).ip == "198.51.100.23"
