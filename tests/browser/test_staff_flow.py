"""A day at the front desk, in a real browser."""

import csv
import io
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts import roles
from patients.models import Patient
from tests.browser.conftest import sign_in
from tests.factories import PatientFactory, ProductLotFactory, RoomFactory, UserFactory
from treatments import rules, services
from treatments.formatting import long_date
from treatments.models import TreatmentSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_register_book_refused_at_four_months_then_booked_at_six(page, live_server, screenshot):
    UserFactory(username="rita", first_name="Rita", role=roles.CLINIC_STAFF)
    doctor = UserFactory(
        username="dr.meyer", first_name="Anna", last_name="Meyer", role=roles.CLINICIAN
    )
    RoomFactory(name="Room 1")
    today = timezone.localdate()
    first_day = today + timedelta(days=30)
    four_months = rules.add_months(first_day, 4)
    six_months = rules.add_months(first_day, 6)

    sign_in(page, live_server, "rita")
    page.wait_for_url("**/schedule/")
    page.click("text=Patients")
    page.click("text=Register a patient")
    page.fill("#id_first_name", "Ana")
    page.fill("#id_last_name", "Lima")
    page.fill("#id_date_of_birth", "1988-04-02")
    page.fill("#id_email", "ana.lima@example.com")
    page.fill("#id_phone", "+351 912 345 678")
    page.check("#id_contact_consent")
    page.click("button:has-text('Register')")
    page.wait_for_selector("text=Ana Lima is registered.")
    patient = Patient.objects.get(email="ana.lima@example.com")

    def book(day):
        page.click("text=Book a session")
        page.fill("#id_day", day.isoformat())
        page.fill("#id_time", "10:00")
        page.select_option("#id_clinician", label="Anna Meyer")
        page.select_option("#id_room", label="Room 1")
        page.click("#book-button")

    book(first_day)
    page.wait_for_selector(f"text=Session booked for {long_date(first_day)}")
    page.click(f"text={patient.full_name}")

    book(four_months)
    error = page.locator("#id_day ~ .invalid-feedback, #error_1_id_day").first
    error.wait_for()
    assert (
        f"The earliest date this session can be booked is {long_date(six_months)}"
        in error.inner_text()
    )
    assert page.input_value("#id_day") == four_months.isoformat()  # kept as typed

    page.fill("#id_day", six_months.isoformat())
    page.click("#book-button")
    page.wait_for_selector(f"text=Session booked for {long_date(six_months)}")
    days = sorted(
        TreatmentSession.objects.filter(patient=patient).values_list("local_date", flat=True)
    )
    assert days == [first_day, six_months]
    assert all(s.clinician == doctor for s in TreatmentSession.objects.filter(patient=patient))

    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    screenshot("patient-page")
    page.goto(f"{live_server.url}/schedule/?day={first_day.isoformat()}")
    assert page.locator("text=Ana Lima").count() == 1
    screenshot("schedule")


def test_admin_filters_overdue_follow_ups_and_exports_csv(page, live_server, screenshot):
    UserFactory(username="boss", role=roles.CLINIC_ADMIN)
    doctor = UserFactory(username="dr.okafor", role=roles.CLINICIAN)
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    names = []
    for i, months_ago in enumerate((4, 8)):
        day = rules.add_months(today, -months_ago)
        starts = datetime.combine(day, time(9 + i), tzinfo=tz)
        patient = PatientFactory(first_name=f"Overdue{i}")
        names.append(patient.full_name)
        session = services.book_session(
            patient=patient,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            clinician=doctor,
            room=RoomFactory(),
            booked_by=doctor,
            now=starts - timedelta(days=10),
        )
        services.complete_session(
            session=session,
            vials=[(ProductLotFactory(), 1)],
            completed_by=doctor,
            now=session.ends_at,
        )

    sign_in(page, live_server, "boss")
    page.wait_for_url("**/follow-ups/review/")
    page.select_option("#id_status", "overdue")
    page.select_option("#id_kind", "early_result")
    page.click("#review-filters button[type=submit]")
    page.wait_for_url("**status=overdue**")
    rows = page.locator("#review-table tbody tr")
    assert rows.count() == 2
    assert {names[0], names[1]} <= set(page.locator("#review-table tbody td a").all_inner_texts())
    screenshot("follow-up-review")

    with page.expect_download() as download:
        page.click("#csv-export")
    content = open(download.value.path(), encoding="utf-8").read()
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][:3] == ["due date", "kind", "status"]
    assert sorted(r[3] for r in rows[1:]) == sorted(names)
    assert {r[1] for r in rows[1:]} == {"Early result"}
