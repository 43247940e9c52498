"""Issue 12, item 16: WCAG 2.2 AA on every page, staff and portal, desktop and phone.

axe-core (pinned in package.json, installed by `npm ci`) is injected into each page by
Playwright; no serious or critical violation may remain. The demo clinic (seed_demo) gives
every page real content. The screenshots of the staff day, a patient page, the review and
the portal home at both widths land in build/screenshots/ (make test prints the folder).
"""

import re

import pytest
from django.core.management import call_command

from patients.models import Patient
from reminders.services import receive_sms
from tests.browser.conftest import SCREENSHOTS, axe_violations, watch_console
from treatments.management.commands.seed_demo import DEMO_PASSWORD
from treatments.models import FollowUp, TreatmentSession

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def demo(reference_data):
    call_command("seed_demo", verbosity=0)
    maria = Patient.objects.get(email="maria.santos@example.com")
    sofia = Patient.objects.get(email="sofia.rossi@example.com")
    today = TreatmentSession.objects.get(patient__email="emma.wagner@example.com")
    # Issue 17: SMS in the inbox (one from Sofia's number, one from a number not on file)
    # and a phone number kept as typed, for the inbox, message log and numbers-to-fix pages.
    receive_sms(
        message_sid="SM" + "1" * 32,
        from_number=sofia.phone_e164,
        to_number="+15005550006",
        body="Can I wash my hair tonight?",
    )
    receive_sms(
        message_sid="SM" + "2" * 32, from_number="+447700900123", to_number="", body="Hello?"
    )
    Patient.objects.filter(pk=maria.pk).update(phone="ask reception", phone_e164="")
    return {
        "maria": maria,
        "sofia": sofia,
        "maria_session": maria.sessions.get(),
        "session": today,
        "follow_up": FollowUp.objects.filter(session__patient=sofia).order_by("due_date").last(),
    }


CONSOLE_ERRORS: dict = {}


def signed_in(browser, live_server, viewport, username):
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
    # Console errors and Content-Security-Policy violations, from the sign-in page on.
    CONSOLE_ERRORS[context] = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if username:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    return context, page


def pages_of(demo):
    """(who, path, screenshot name or None) for every page of every role."""
    maria, sofia = demo["maria"], demo["sofia"]
    session, follow_up = demo["session"], demo["follow_up"]
    return [
        (None, "/accounts/login/", None),
        (None, "/accounts/password_reset/", None),
        ("reception", "/schedule/", "staff-day"),
        ("reception", "/schedule/?view=week", None),
        ("reception", "/patients/", None),
        ("reception", "/patients/new/", None),
        ("reception", f"/patients/{sofia.pk}/", "patient-page"),
        ("reception", f"/patients/{maria.pk}/book/", None),
        ("reception", f"/sessions/{session.pk}/", None),
        ("reception", f"/sessions/{session.pk}/move/", None),
        ("reception", "/recall/", "recall"),
        ("reception", "/booking-requests/", None),
        ("reception", "/waitlist/", None),
        ("reception", "/accounts/password_change/", None),
        ("reception", "/no-such-page/", None),
        ("dr.meyer", f"/sessions/{session.pk}/complete/", None),
        ("dr.meyer", f"/follow-ups/{follow_up.pk}/record/", None),
        ("dr.meyer", f"/sessions/{sofia.sessions.get().pk}/baseline/", "baseline"),
        ("dr.meyer", f"/patients/{sofia.pk}/compare/", "photo-compare"),
        ("admin", "/follow-ups/review/", "follow-up-review"),
        ("admin", "/reminders/failed/", None),
        ("reception", "/inbox/", "inbox"),
        ("reception", f"/patients/{sofia.pk}/messages/", "message-log"),
        ("reception", "/patients/phones-to-fix/", None),
        ("sofia.rossi@example.com", "/portal/", None),
        ("sofia.rossi@example.com", "/portal/aftercare/", None),
        ("sofia.rossi@example.com", "/portal/follow-ups/", None),
        ("sofia.rossi@example.com", "/portal/preferences/", None),
        ("sofia.rossi@example.com", "/portal/compare/?view=front", "portal-compare"),
        ("maria.santos@example.com", "/portal/", "portal-home"),
        ("sofia.rossi@example.com", "/portal/book/", "portal-book"),
        ("sofia.rossi@example.com", "/portal/waitlist/", "portal-waitlist"),
        ("maria.santos@example.com", f"/portal/sessions/{demo['maria_session'].pk}/request/", None),
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_no_serious_or_critical_violations_on_any_page(browser, live_server, demo, viewport):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found, visited = {}, 0
    contexts = {}
    try:
        for who, path, shot in pages_of(demo):
            if who not in contexts:
                contexts[who] = signed_in(browser, live_server, viewport, who)
            page = contexts[who][1]
            response = page.goto(live_server.url + path)
            assert response.status < 500, path
            visited += 1
            if problems := axe_violations(page):
                found[f"{who or 'anonymous'} {path}"] = problems
            if shot:
                page.screenshot(path=str(SCREENSHOTS / f"{shot}-{viewport}.png"), full_page=True)
    finally:
        for context, _ in contexts.values():
            context.close()
    assert visited == len(pages_of(demo))
    # Every page works under the policy: nothing refused, nothing failing in the console
    # (but the 404 page's own status, which Chromium reports as a failed load).
    errors = [
        e
        for context, _ in contexts.values()
        for e in CONSOLE_ERRORS.pop(context)
        if not e.startswith(f"{live_server.url}/no-such-page/: Failed to load resource")
    ]
    assert errors == []
    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(p) for where, p in found.items())


def test_skip_link_focus_ring_current_page_and_titles(browser, live_server, demo):
    context, page = signed_in(browser, live_server, "desktop", "reception")
    try:
        page.goto(f"{live_server.url}/patients/{demo['sofia'].pk}/")
        # The page title names the patient; the schedule's names the day.
        assert page.title().startswith("Sofia Rossi")
        page.keyboard.press("Tab")
        skip = page.locator("a.skip-link")
        assert skip.evaluate("el => el === document.activeElement")
        assert skip.is_visible() and skip.bounding_box()["width"] > 50
        outline = skip.evaluate("el => getComputedStyle(el).outlineWidth")
        assert float(outline.removesuffix("px")) >= 2
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        # The current section is marked for screen readers and by more than colour.
        current = page.locator('nav a[aria-current="page"]')
        assert current.count() == 1 and current.inner_text() == "Patients"
        assert "underline" in current.evaluate("el => getComputedStyle(el).textDecorationLine")
        page.goto(f"{live_server.url}/schedule/")
        assert re.match(r"Schedule, \w+day \d+ \w+ \d{4}", page.title())
        assert page.locator('nav a[aria-current="page"]').inner_text() == "Schedule"
        # A button reached by keyboard shows a ring.
        page.focus("button:has-text('Sign out')")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert ring == "solid"
    finally:
        context.close()


def test_the_progress_chart_is_legible_on_a_phone(browser, live_server, demo):
    context, page = signed_in(browser, live_server, "phone", "sofia.rossi@example.com")
    try:
        page.goto(f"{live_server.url}/portal/follow-ups/")
        label = page.locator("#chart-rating svg text").nth(1)
        assert label.bounding_box()["height"] >= 10  # px on a 390 px wide screen
        # Sofia's density was measured once, at the day-0 baseline: one dot, the chart's
        # first day is the session's.
        session_day = demo["sofia"].sessions.get().local_date
        assert page.locator("#chart-density svg circle").count() == 1
        density = page.locator("#chart-density").inner_text()
        assert f"{session_day.day} {session_day:%b %Y}" in density
        rows = page.locator("#progress-table tbody tr").all_inner_texts()
        assert rows[0].startswith("Baseline (day 0)") and len(rows) == 2
        # The SVG's presentation attributes (fill, stroke, font-size) are not styles: the
        # policy lets them through, and the line and dots are drawn.
        dot = page.locator("#chart-rating svg circle").first
        assert dot.bounding_box()["width"] >= 8  # r="4.5"
        assert dot.evaluate("el => getComputedStyle(el).fill") != "none"
        assert CONSOLE_ERRORS.pop(context) == []
    finally:
        context.close()
