"""The staff's patient page: what it reads from what it has already loaded (issue 18)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from reminders.models import DeliveryAttempt, Reminder, ReminderState
from tests.factories import PatientFactory, ProductLotFactory, at, book, clinician, reconfirm
from treatments import services
from treatments.models import (
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    SessionStatus,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db

FLAG = "previous 6-month assessment missing"


def completed_then_booked():
    """A completed session (its assessment still planned), and the next one booked."""
    patient = PatientFactory()
    first_day = date(2026, 1, 12)
    first = book(patient, first_day, hour=9, now=at(first_day - timedelta(days=10)))
    reconfirm(patient, at=first.starts_at)
    first = services.complete_session(
        session=first,
        vials=[(ProductLotFactory(), 1)],
        completed_by=first.clinician,
        now=first.ends_at,
    )
    book(patient, date(2027, 3, 10), hour=10, now=at(date(2027, 2, 1)))
    return patient, first


def test_the_missing_assessment_flag_follows_the_previous_session(staff_client):
    patient, first = completed_then_booked()
    url = reverse("patient_detail", args=[patient.pk])
    assert staff_client.get(url).content.decode().count(FLAG) == 1
    assessment = first.follow_ups.get(kind=FollowUpKind.ASSESSMENT)
    services.record_follow_up(
        follow_up=assessment,
        status=FollowUpStatus.DONE,
        recorded_by=first.clinician,
        hair_density_per_cm2=100,
        patient_rating=5,
        now=at(assessment.due_date),
    )
    assert FLAG not in staff_client.get(url).content.decode()


def photo_reads(client, patient):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("patient_detail", args=[patient.pk]))
    assert response.status_code == 200
    reads = sum("treatments_followupphoto" in q["sql"] for q in ctx.captured_queries)
    return reads, 'id="compare-link"' in response.content.decode()


def test_the_photos_are_read_for_who_may_see_them(clinic_admin_client):
    patient, _ = completed_then_booked()
    assert photo_reads(clinic_admin_client, patient) == (1, True)


def test_the_photos_are_not_read_for_the_front_desk(staff_client):
    patient, _ = completed_then_booked()
    assert photo_reads(staff_client, patient) == (0, False)


def test_the_reminders_table_escapes_truncates_and_offers_a_resend(staff_client):
    """The reminders' rows are written in the view (patients._reminder_rows): what a
    provider or a worker wrote is escaped and shortened as the template's filters did, and
    only a failed reminder has a resend form, with the page's CSRF field."""
    patient, _ = completed_then_booked()
    sent, failed, *rest = Reminder.objects.filter(session__patient=patient).order_by("due_at")
    sent.state, failed.state = ReminderState.SENT, ReminderState.FAILED
    sent.sent_at = failed.updated_at
    sent.save()
    failed.status_note = "<b>Gave up</b> & " + "x" * 80
    failed.save()
    error = 'SMTP 451 <i>"busy"</i> & later, please try again in a while'
    DeliveryAttempt.objects.create(
        reminder=failed, attempted_at=at(date(2026, 1, 2), 14, 5), succeeded=False, error=error
    )
    DeliveryAttempt.objects.create(
        reminder=sent, attempted_at=at(date(2026, 1, 3), 9), succeeded=True
    )
    html = staff_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "<b>Gave up" not in html and "<i>" not in html
    # truncatechars:60 and :40 as the template had them: the ellipsis counts as a character.
    assert f'<span class="text-muted">{escape(failed.status_note[:59])}…</span>' in html
    assert f"<div>2 Jan 14:05 failed: {escape(error[:39])}…</div>" in html
    assert "<div>3 Jan 09:00 ok</div>" in html
    resend = reverse("reminder_resend", args=[failed.pk])
    assert html.count('action="/reminders/') == 1 and f'action="{resend}">' in html
    form = html[html.index(f'action="{resend}">') :].split("</form>")[0]
    assert '<input type="hidden" name="csrfmiddlewaretoken" value="' in form
    assert f'<span class="badge text-bg-danger">{failed.get_state_display()}</span>' in html
    assert html.count("<td>–</td>") == len(rest)  # no attempts yet


def test_the_timeline_escapes_what_people_typed_and_links_by_role(staff_client, clinician_client):
    """The timeline is written in the view (patients._prepare_rows): names, reasons and
    product names are escaped, each session's and follow-up's words and links are there,
    and the clinician's links (record, amend, the day-0 baseline) only for who may use them."""
    patient, first = completed_then_booked()
    lot = first.vials_used.get().lot
    lot.product_name = 'Exo <Plus> & "more"'
    lot.save()
    eve = clinician(first_name="Eve <b>", last_name="O'Brien & Co")
    done = first.follow_ups.exclude(kind=FollowUpKind.BASELINE).order_by("due_date").first()
    FollowUp.objects.filter(pk=done.pk).update(
        status=FollowUpStatus.DONE,
        seen_by=first.clinician,
        recorded_by=eve,
        version=2,
        hair_density_per_cm2=Decimal("123.5"),
        patient_rating=7,
    )
    later = patient.sessions.exclude(pk=first.pk).get()
    TreatmentSession.objects.filter(pk=later.pk).update(
        status=SessionStatus.CANCELLED, cancellation_reason="Ill <i>today</i>", cancelled_by=eve
    )
    url = reverse("patient_detail", args=[patient.pk])
    front_desk = staff_client.get(url).content.decode()
    record = reverse("follow_up_record", args=[done.pk])
    eve_html = "Eve &lt;b&gt; O&#x27;Brien &amp; Co"
    for html in (front_desk, clinician_client.get(url).content.decode()):
        assert "<b>" not in html and "<i>" not in html and "<Plus>" not in html
        assert "1 × Exo &lt;Plus&gt; &amp; &quot;more&quot; lot " + lot.lot_number in html
        assert f"(Ill &lt;i&gt;today&lt;/i&gt;; cancelled by {eve_html})" in html
        assert f"· recorded by {eve_html}" in html
        assert f'· <a href="{record}#history">amended (history)</a>' in html
        assert "· 123.5 hairs/cm² · rating 7/10" in html
    assert f'· <a href="{record}">amend</a>' in html and "baseline-link" in html
    assert f'· <a href="{record}">amend</a>' not in front_desk
    assert "baseline-link" not in front_desk


def test_an_open_side_effect_report_shows_however_many_are_resolved(clinician_client):
    """The page read the newest 20 reports and skipped the resolved ones: an open report
    behind 20 resolved ones was never shown for a clinician to resolve."""
    from django.utils import timezone

    from treatments.models import SideEffectReport

    patient = PatientFactory()
    SideEffectReport.objects.create(patient=patient, description="Scalp itch, still open")
    SideEffectReport.objects.bulk_create(
        SideEffectReport(patient=patient, description=f"Resolved {n}", resolved_at=timezone.now())
        for n in range(21)
    )
    page = clinician_client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "Scalp itch, still open" in page
    assert "Resolved 3" not in page
