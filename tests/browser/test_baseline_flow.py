"""The day-0 baseline recorded on a phone, and the patient's before/after toggle at 390 px."""

import io
from datetime import datetime, time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from accounts import roles
from tests.browser.conftest import SCREENSHOTS, axe_violations, sign_in, watch_console
from tests.factories import PatientFactory, ProductLotFactory, RoomFactory, UserFactory
from treatments import baseline, services
from treatments.models import FollowUpStatus

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(buffer, "PNG")
    return buffer.getvalue()


def phone_page(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page, errors


def test_baseline_on_a_phone_then_the_patients_before_and_after(browser, live_server):
    doctor = UserFactory(username="dr.meyer", role=roles.CLINICIAN)
    patient = PatientFactory(first_name="Sofia", last_name="Rossi", email="sofia@example.com")
    now = timezone.now()
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    # A session this morning (or just past midnight), completed at its end.
    starts = max(now - timedelta(hours=2), datetime.combine(today, time(0, 5), tzinfo=tz)).replace(
        microsecond=0
    )
    session = services.book_session(
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        clinician=doctor,
        room=RoomFactory(),
        booked_by=doctor,
        now=starts - timedelta(days=10),
    )
    session = services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=doctor,
        now=min(session.ends_at, now),
    )

    context, page, errors = phone_page(browser)
    sign_in(page, live_server, "dr.meyer")
    page.goto(f"{live_server.url}/sessions/{session.pk}/baseline/")
    labels = page.locator("#baseline-views li").all_inner_texts()
    assert [label.split(":")[0] for label in labels] == [
        "Top",
        "Hairline (front)",
        "Crown",
        "Left side",
        "Right side",
    ]
    assert all("missing" in label for label in labels)
    page.fill("#id_hair_density_per_cm2", "96")
    page.fill("#id_shaft_thickness_um", "58")
    page.check("#id_shared_with_patient")
    page.set_input_files(
        "#id_photo_top", {"name": "top.png", "mimeType": "image/png", "buffer": png("brown")}
    )
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Baseline recorded.")
    first_row = page.locator("#progress-table tbody tr").first.inner_text()
    assert "Baseline (day 0)" in first_row and "96" in first_row
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
    assert errors == []

    b = baseline.baseline_of(session)
    assert b.hair_density_per_cm2 == 96 and b.photos.count() == 1
    early = session.follow_ups.get(kind="early_result")
    services.record_follow_up(
        follow_up=early,
        status=FollowUpStatus.DONE,
        recorded_by=doctor,
        hair_density_per_cm2=110,
        shared_with_patient=True,
        photos=[("top", SimpleUploadedFile("top.png", png("tan"), content_type="image/png"))],
        now=datetime.combine(early.due_date, time(11), tzinfo=tz),
    )

    user = UserFactory(username="sofia@example.com", role=roles.PATIENT)
    patient.user = user
    patient.save()
    context, page, errors = phone_page(browser)
    sign_in(page, live_server, "sofia@example.com")
    page.wait_for_url("**/portal/")
    page.goto(f"{live_server.url}/portal/follow-ups/")
    page.click("#compare-link")
    before = page.locator("#compare-before-photo img")
    after = page.locator("#compare-after-photo img")
    before.wait_for()
    assert before.is_visible() and after.is_visible()
    # Side by side at 390 px, each loaded (the photo URL answers with the picture).
    assert page.evaluate("document.querySelector('#compare-before-photo img').naturalWidth") == 300
    box_b, box_a = before.bounding_box(), after.bounding_box()
    assert box_b["x"] < box_a["x"] and abs(box_b["y"] - box_a["y"]) < 2
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > 390).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    assert axe_violations(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "portal-compare-phone.png"), full_page=True)
    # The toggle: one photo at full width, no script.
    page.click("label[for=compare-after]")
    assert after.is_visible() and not before.is_visible()
    assert after.bounding_box()["width"] > box_a["width"] * 1.5
    page.click("label[for=compare-before]")
    assert before.is_visible() and not after.is_visible()
    page.click("label[for=compare-both]")
    assert before.is_visible() and after.is_visible()
    # Choosing the visits with the form (GET): the crown is missing at both, and says so.
    page.select_option("#id_view", "crown")
    page.click("button:has-text('Compare')")
    page.wait_for_url("**view=crown**")
    assert page.locator(".compare-missing").count() == 2
    context.close()
    assert errors == []
