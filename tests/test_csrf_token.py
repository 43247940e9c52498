"""ui.csrf: one masked CSRF token a response, shared by the forms a view writes in Python
and the layout's `{% csrf_token %}`, valid for a POST, and made anew after the secret
rotates (signing in)."""

import re

import pytest
from django.middleware.csrf import (
    CsrfViewMiddleware,
    _unmask_cipher_token,
    rotate_token,
)
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import PatientFactory, book
from ui.csrf import csrf, page_token

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _request():
    request = RequestFactory().get("/")
    CsrfViewMiddleware(lambda r: None).process_request(request)
    return request


def test_a_request_gets_one_token_for_its_secret():
    request = _request()
    first = page_token(request)
    assert page_token(request) == first
    assert str(csrf(request)["csrf_token"]) == first
    assert _unmask_cipher_token(first) == request.META["CSRF_COOKIE"]


def test_a_rotated_secret_gets_a_token_of_its_own():
    request = _request()
    before = page_token(request)
    rotate_token(request)  # as signing in does
    after = page_token(request)
    assert after != before
    assert _unmask_cipher_token(after) == request.META["CSRF_COOKIE"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["patient_detail", "session_book", "follow_up_review"])
def test_a_page_and_its_layout_write_the_same_token(clinic_admin_client, page):
    patient = PatientFactory()
    book(patient)
    url = reverse(page) if page == "follow_up_review" else reverse(page, args=[patient.pk])
    response = clinic_admin_client.get(url)
    assert response.status_code == 200
    tokens = TOKEN.findall(response.content.decode())
    assert len(tokens) >= 2, "the page's own form and the layout's sign-out form"
    assert len(set(tokens)) == 1
