"""Content-Security-Policy (django-csp): only this site's own files run or style a page.

The header is on every answer (also checked on every request of tests/test_fuzz.py); the
templates hold nothing the policy would refuse, so a page works under it: no inline
<script>, no on*= handler, no <style> and no style="" attribute, no javascript: link.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
# E-mails are read in mail programs, which need inline styles and never see this header.
NOT_WEB_PAGES = {ROOT / "templates" / "reminders"}

INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script> (no src)"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler (on...=)"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def web_templates() -> list[Path]:
    found = []
    for folder in [ROOT / "templates", *ROOT.glob("*/templates")]:
        for path in folder.rglob("*.html"):
            if not any(path.is_relative_to(skip) for skip in NOT_WEB_PAGES):
                found.append(path)
    return found


def inline_code(text: str) -> list[str]:
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {what}: {m.group(0)!r}"
        for pattern, what in INLINE
        for m in pattern.finditer(text)
    ]


def test_no_template_holds_what_the_policy_refuses():
    templates = web_templates()
    assert len(templates) > 30  # the scan does see the project's templates
    found = {
        str(path.relative_to(ROOT)): hits
        for path in templates
        if (hits := inline_code(path.read_text()))
    }
    assert found == {}


@pytest.mark.parametrize(
    "snippet",
    [
        '<button onclick="window.print()">',
        "<script>alert(1)</script>",
        '<script type="module">',
        '<div style="color: red">',
        "<style>p {}</style>",
        '<a href="javascript:void(0)">',
        '<svg><circle ONLOAD="x()"/></svg>',
    ],
)
def test_the_scan_finds_each_kind(snippet):
    assert inline_code(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/js/clinic.js"></script>',
        '<script\n  id="x"\n  src="/static/admin/js/x.js">',
        '<button data-action="print" type="button">',
        '<a class="btn" href="/one">',
    ],
)
def test_the_scan_lets_the_allowed_kinds_through(snippet):
    assert inline_code(snippet) == []


def directives(header: str) -> dict[str, list[str]]:
    parts = (p.split() for p in header.split(";") if p.strip())
    return {name: values for name, *values in parts}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/accounts/login/"),
        (None, "/no-such-page/"),
        ("staff_client", "/schedule/"),
        ("staff_client", "/follow-ups/review/"),  # a 403
        ("patient_client", "/portal/"),
    ],
)
def test_every_page_gets_the_policy(request, client, who, path):
    if who:
        client = request.getfixturevalue(who)
    response = client.get(path, follow=who == "patient_client")
    policy = directives(response["Content-Security-Policy"])
    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header


def test_the_static_files_the_templates_load_exist():
    for name in ("js/clinic.js", "js/booking.js", "css/clinic.css"):
        assert (ROOT / "static" / name).is_file(), name
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"] == ["'self'"]


def test_the_admin_login_page_gets_it_too(client, db):
    response = client.get(reverse("admin:login"))
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
