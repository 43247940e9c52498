"""The lot pages: stock and warnings, quarantine and recall by POST (CSRF, permission per
action), the recall report and its CSV, constant query counts, no 500 on bad input."""

from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts import roles
from audit.models import AccessKind, RecordAccess
from reminders.models import Reminder, ReminderKind
from tests.factories import ProductLotFactory, UserFactory
from tests.test_lots import complete, past_session, recipients
from treatments.models import LotStatus, ProductLot, Recall, RecallContact

pytestmark = pytest.mark.django_db


def test_lot_list_shows_stock_and_warnings(staff_client, frozen, settings):
    settings.LOT_EXPIRY_WARNING_DAYS = 30
    settings.LOT_LOW_STOCK_VIALS = 5
    today = frozen.date()
    ProductLotFactory(lot_number="SOON", expiry_date=today + timedelta(days=30))
    ProductLotFactory(lot_number="LATER", expiry_date=today + timedelta(days=31))
    ProductLotFactory(lot_number="FEW", vials_received=5)
    html = staff_client.get(reverse("lot_list")).content.decode()
    assert "expires" in html.split("SOON", 1)[1].split("</tr>", 1)[0]
    assert "badge" not in html.split("LATER", 1)[1].split("</tr>", 1)[0]
    assert "low stock: 5 vial(s)" in html.split("FEW", 1)[1].split("</tr>", 1)[0]


def test_the_lot_choice_on_the_complete_page_shows_stock_and_warnings(clinician_client, settings):
    settings.LOT_LOW_STOCK_VIALS = 5
    session = past_session()
    ProductLotFactory(lot_number="LOW-1", vials_received=2)
    response = clinician_client.get(reverse("session_complete", args=[session.pk]))
    assert "LOW-1" in response.content.decode()
    assert "2 vial(s) on hand – warning: low stock: 2 vial(s)" in response.content.decode()


def test_a_held_lot_disappears_from_the_choice(clinic_admin_client):
    session = past_session()
    lot = ProductLotFactory(lot_number="HOLD-ME")
    response = clinic_admin_client.post(
        reverse("lot_hold", args=[lot.pk]), {"hold-reason": "Temperature log gap"}
    )
    assert response.status_code == 302
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.ON_HOLD
    page = clinic_admin_client.get(reverse("session_complete", args=[session.pk]))
    assert "HOLD-ME" not in page.content.decode()
    detail = clinic_admin_client.get(reverse("lot_detail", args=[lot.pk])).content.decode()
    assert "Temperature log gap" in detail and "Release the lot" in detail


def test_actions_are_refused_to_the_wrong_role(staff_client, clinician_client):
    lot = ProductLotFactory()
    for client, name, data in (
        (staff_client, "lot_hold", {"hold-reason": "x"}),
        (clinician_client, "lot_hold", {"hold-reason": "x"}),
        (clinician_client, "lot_recall", {"recall-message": "{lot}"}),
        (staff_client, "lot_write_off", {"write_off-vials": 1, "write_off-reason": "x"}),
    ):
        assert client.post(reverse(name, args=[lot.pk]), data).status_code == 403, name
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE


def test_actions_need_csrf():
    admin = UserFactory(role=roles.CLINIC_ADMIN)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    lot = ProductLotFactory()
    response = client.post(reverse("lot_hold", args=[lot.pk]), {"hold-reason": "x"})
    assert response.status_code == 403
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE


@pytest.mark.parametrize(
    "name,data",
    [
        ("lot_hold", {"hold-reason": ""}),
        ("lot_release", {"release-reason": "not held"}),
        ("lot_write_off", {"write_off-vials": "-3", "write_off-reason": "x"}),
        ("lot_write_off", {"write_off-vials": "99999", "write_off-reason": "x"}),
        ("lot_write_off", {"write_off-vials": "abc"}),
        ("lot_recall", {"recall-message": "Dear {name}"}),
        ("lot_recall", {"recall-message": "\x00"}),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(clinic_admin_client, name, data):
    lot = ProductLotFactory(vials_received=3)
    response = clinic_admin_client.post(reverse(name, args=[lot.pk]), data)
    assert response.status_code == 400
    assert not Recall.objects.exists()


def test_bad_query_strings_are_no_500(staff_client):
    lot = ProductLotFactory()
    for query in ("?days=abc", "?days=-1", "?days=100000", "?days=%00"):
        status = staff_client.get(reverse("lot_detail", args=[lot.pk]) + query).status_code
        assert status in (200, 400), query
    assert staff_client.get(reverse("lot_detail", args=[999999])).status_code == 404
    assert staff_client.get(reverse("recall_report", args=[999999])).status_code == 404


def test_upcoming_sessions_are_listed_for_the_coming_days(staff_client, frozen):
    from tests.factories import book

    lot = ProductLotFactory()
    near = book(day=frozen.date() + timedelta(days=6))
    far = book(day=frozen.date() + timedelta(days=20))
    html = staff_client.get(reverse("lot_detail", args=[lot.pk])).content.decode()
    assert near.patient.full_name in html and far.patient.full_name not in html
    html = staff_client.get(reverse("lot_detail", args=[lot.pk]) + "?days=30").content.decode()
    assert far.patient.full_name in html
    assert "do not record a planned lot" in html


def test_recall_from_the_page_then_report_and_csv(clinic_admin_client, staff_client):
    lot = ProductLotFactory(lot_number="R-1", vials_received=50)
    patients = recipients(lot, 4)
    response = clinic_admin_client.post(
        reverse("lot_recall", args=[lot.pk]), {"recall-message": "{product} lot {lot} recalled."}
    )
    recall = Recall.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "recall_report", args=[recall.pk]
    )
    # The second browser's click: the same recall, no second notice.
    clinic_admin_client.post(reverse("lot_recall", args=[lot.pk]), {"recall-message": "again"})
    assert Reminder.objects.filter(kind=ReminderKind.RECALL).count() == 4

    recipient = recall.recipients.first()
    staff_client.post(
        reverse("recall_contact", args=[recipient.pk]),
        {"contact": "phoned", "note": "Spoke to the patient"},
    )
    recipient.refresh_from_db()
    assert recipient.contact == RecallContact.PHONED and recipient.contact_note

    report = staff_client.get(reverse("recall_report", args=[recall.pk])).content.decode()
    assert "ExoHair 400 lot R-1 recalled." in report
    assert "Spoke to the patient" in report
    # The front desk phones patients but does not export the list.
    assert staff_client.get(reverse("recall_report_csv", args=[recall.pk])).status_code == 403

    csv = clinic_admin_client.get(reverse("recall_report_csv", args=[recall.pk]))
    text = csv.content.decode()
    assert "recipients: 4" in text and "phoned: 1" in text and "not reached: 3" in text
    logged = RecordAccess.objects.filter(kind=AccessKind.EXPORT)
    assert sorted(logged.values_list("patient_id", flat=True)) == sorted(p.pk for p in patients)


@pytest.mark.parametrize("patients", [2, 30])
def test_lot_pages_have_constant_query_counts(
    clinic_admin_client, django_assert_max_num_queries, patients
):
    lot = ProductLotFactory(vials_received=100)
    recipients(lot, patients)
    for _ in range(patients // 2):
        ProductLotFactory()
    complete(past_session(), ProductLotFactory())
    from reminders import services as reminder_services

    recall = reminder_services.start_recall(
        lot=lot, message="{lot}", actor=UserFactory(role=roles.CLINIC_ADMIN)
    )
    for name, args, ceiling in (
        ("lot_list", [], 8),
        ("lot_detail", [lot.pk], 12),
        ("recall_report", [recall.pk], 9),
        ("recall_report_csv", [recall.pk], 10),
    ):
        with django_assert_max_num_queries(ceiling):
            response = clinic_admin_client.get(reverse(name, args=args))
        assert response.status_code == 200, name


def test_nothing_expires_silently_on_a_day_boundary():
    """The warning counts calendar days: the limit day warns, the day after does not."""
    lot = ProductLotFactory(expiry_date=date(2027, 2, 3), vials_received=50)
    assert lot.warnings(date(2027, 1, 4), expiry_days=30, low_stock=5) == ["expires 03 Feb 2027"]
    assert lot.warnings(date(2027, 1, 3), expiry_days=30, low_stock=5) == []
    assert lot.warnings(date(2027, 2, 4), expiry_days=30, low_stock=5) == ["expired on 03 Feb 2027"]
