"""An admin quarantines a lot, starts its recall, and reads the report (desktop and phone)."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts import roles
from reminders.models import Reminder
from tests.browser.conftest import axe_violations, sign_in
from tests.factories import PatientFactory, ProductLotFactory, RoomFactory, UserFactory
from treatments import rules, services
from treatments.models import LotStatus, ProductLot

pytestmark = pytest.mark.django_db(transaction=True)


def treated_with(lot, doctor, patients=2):
    tz = timezone.get_default_timezone()
    for i in range(patients):
        day = rules.add_months(timezone.localdate(), -2)
        starts = datetime.combine(day, time(9 + i), tzinfo=tz)
        session = services.book_session(
            patient=PatientFactory(first_name=f"Recipient{i}"),
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            clinician=doctor,
            room=RoomFactory(),
            booked_by=doctor,
            now=starts - timedelta(days=10),
        )
        services.complete_session(
            session=session, vials=[(lot, 1)], completed_by=doctor, now=session.ends_at
        )


@pytest.mark.parametrize("width", [1280, 390])
def test_admin_quarantines_a_lot_starts_the_recall_and_sees_the_report(
    page, live_server, screenshot, width
):
    page.set_viewport_size({"width": width, "height": 900})
    UserFactory(username="boss", role=roles.CLINIC_ADMIN)
    doctor = UserFactory(username="dr.okafor", role=roles.CLINICIAN)
    lot = ProductLotFactory(lot_number="EXO-2291", vials_received=6)
    treated_with(lot, doctor)

    sign_in(page, live_server, "boss")
    page.wait_for_url("**/follow-ups/review/")
    page.goto(f"{live_server.url}/lots/")
    assert "low stock: 4 vial(s)" in page.inner_text("main")
    assert axe_violations(page) == []
    page.click("text=EXO-2291")
    page.fill("#id_hold-reason", "Manufacturer's notice of a sterility question")
    page.click("button:has-text('Put on hold')")
    page.wait_for_selector("#lot-status:has-text('On hold')")
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.ON_HOLD
    assert axe_violations(page) == []
    screenshot(f"lot-on-hold-{width}")

    page.fill("#id_recall-message", "{product} lot {lot} is recalled: please call us.")
    page.click("button:has-text('Start the recall')")
    page.wait_for_url("**/recalls/*/")
    counts = page.inner_text("#recall-counts")
    assert "Recipients\n2" in counts or "Recipients 2" in counts.replace("\n", " ")
    assert "ExoHair 400 lot EXO-2291 is recalled: please call us." in page.inner_text("main")
    assert axe_violations(page) == []
    if width < 500:
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(f"recall-report-{width}")
    assert Reminder.objects.filter(kind="recall").count() == 2
