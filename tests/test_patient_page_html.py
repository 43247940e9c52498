"""The staff patient page's content is written in Python (frontdesk/views/patient_content.py,
issue 18): it must be the template's byte for byte. The template and its partials are kept
as the reference (tests/reference/patient_detail.html); each test renders it with the
view's context for the same request and compares."""

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import engines
from django.urls import reverse
from django.utils import dateformat, translation
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from accounts import roles
from patients.intake import review_intake
from patients.models import Patient, PatientChange
from reminders import selectors as reminder_selectors
from reminders.models import DeliveryAttempt, Reminder, ReminderState
from tests.factories import (
    PatientFactory,
    ProductLotFactory,
    UserFactory,
    at,
    book,
    clinician,
    pending_intake,
    reconfirm,
)
from treatments import services
from treatments.formatting import named_time, session_at
from treatments.merges import merge_patients
from treatments.models import (
    ChangeRequest,
    FollowUp,
    FollowUpKind,
    FollowUpPhoto,
    FollowUpStatus,
    PhotoView,
    SessionStatus,
    SideEffectReport,
    TreatmentSession,
)
from ui.rows import staff_said

pytestmark = pytest.mark.django_db

REFERENCE = engines["django"].from_string(
    (Path(__file__).parent / "reference" / "patient_detail.html").read_text()
)
MARKUP = "<b>&\"'</b>"


def as_the_reference_renders_it(response) -> tuple[str, str]:
    """The page, and the reference rendered with the view's context for the same request
    (a CSRF token is masked anew each time it is written: compared without it)."""
    assert response.status_code == 200
    context = next(c for c in response.context if "content" in c).flatten()
    expected = REFERENCE.render(context, response.wsgi_request)
    masked = re.compile(r'(name="csrfmiddlewaretoken" value=)"[^"]*"')
    return masked.sub(r"\1", response.content.decode()), masked.sub(r"\1", expected)


def a_full_record():
    """A patient with something in every part of the page, markup in what people typed."""
    patient = PatientFactory(
        first_name=f"Ana {MARKUP}",
        medications=f"Minoxidil 5%\n{MARKUP}",
        allergies="Penicillin\r\nLatex & <dust>",
        notes=f"Prefers mornings {MARKUP}",
        non_essential_opt_out=True,
        reminders_by_sms=True,
    )
    first_day = date(2026, 1, 12)
    first = book(patient, first_day, hour=9, now=at(first_day - timedelta(days=10)))
    reconfirm(patient, at=first.starts_at)
    lot = ProductLotFactory(product_name=f"Exo {MARKUP}")
    first = services.complete_session(
        session=first, vials=[(lot, 2)], completed_by=first.clinician, now=first.ends_at
    )
    eve = clinician(first_name=f"Eve {MARKUP}", last_name="O'Brien")
    done = first.follow_ups.exclude(kind=FollowUpKind.BASELINE).order_by("due_date").first()
    FollowUp.objects.filter(pk=done.pk).update(
        status=FollowUpStatus.DONE,
        seen_by=first.clinician,
        recorded_by=eve,
        version=2,
        hair_density_per_cm2=110,
        patient_rating=6,
    )
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    FollowUpPhoto.objects.create(
        follow_up=done,
        view=PhotoView.TOP,
        image=SimpleUploadedFile("top.png", png.getvalue()),
        uploaded_by=first.clinician,
    )
    booked = book(patient, date(2027, 3, 10), hour=10, now=at(date(2027, 2, 1)))
    cancelled = book(patient, date(2027, 9, 10), hour=10, now=at(date(2027, 2, 1)))
    TreatmentSession.objects.filter(pk=cancelled.pk).update(
        status=SessionStatus.CANCELLED, cancellation_reason=f"Ill {MARKUP}", cancelled_by=eve
    )
    sent, failed, *_ = Reminder.objects.filter(session__patient=patient).order_by("due_at")
    Reminder.objects.filter(pk=failed.pk).update(
        state=ReminderState.FAILED, status_note=f"Gave up {MARKUP}" + "x" * 80
    )
    Reminder.objects.filter(pk=sent.pk).update(state=ReminderState.SENT, sent_at=sent.due_at)
    DeliveryAttempt.objects.create(
        reminder=failed, attempted_at=at(date(2026, 1, 2), 14), succeeded=False, error=MARKUP
    )
    SideEffectReport.objects.create(patient=patient, description=f"Itching {MARKUP}")
    SideEffectReport.objects.create(
        patient=patient, description="Gone", resolved_at=at(date(2026, 2, 1))
    )
    ChangeRequest.objects.create(
        patient=patient, session=booked, kind="reschedule", message=f"Later {MARKUP}"
    )
    ChangeRequest.objects.create(patient=patient, session=cancelled, kind="cancel")
    desk = UserFactory(first_name="", last_name="", username=f"desk{MARKUP}")
    for changes, reason in (
        ({"medications": ["", "Minoxidil 5%"]}, ""),
        ({"allergies": ["None", f"Latex {MARKUP}"], "notes": [None, "x" * 200]}, f"Typo {MARKUP}"),
        ({"takes_prescribed_nsaid": [False, True], "prescribed_nsaid": ["", "Ibuprofen"]}, "GP"),
        ({"email": ["a@example.test", "b@example.test"], "phone": [None, 42]}, ""),
    ):
        PatientChange.objects.create(
            patient=patient, changes=changes, reason=reason, changed_by=desk
        )
    PatientChange.objects.create(
        patient=patient, kind=PatientChange.Kind.MERGED_FROM, note=f"no. 7 {MARKUP}", changed_by=eve
    )
    PatientChange.objects.create(
        patient=patient, kind=PatientChange.Kind.MERGED_FROM, changed_by=eve
    )
    version = pending_intake(
        patient,
        now=at(date(2026, 3, 1)),
        alcohol="regular",
        medical_history=f"Asthma\n{MARKUP}",
        goals="",
        takes_prescribed_nsaid=True,
        prescribed_nsaid=f"Naproxen {MARKUP}",
    )
    Patient.objects.filter(pk=patient.pk).update(  # after the sessions: no NSAID decision
        takes_prescribed_nsaid=True, prescribed_nsaid=f"Ibuprofen {MARKUP}"
    )
    return patient, version


ROLES = ["staff_client", "clinician_client", "clinic_admin_client"]


@pytest.mark.parametrize("reader", ROLES)
def test_a_full_record_is_the_templates_byte_for_byte(reader, request):
    patient, _ = a_full_record()
    client = request.getfixturevalue(reader)
    page, expected = as_the_reference_renders_it(
        client.get(reverse("patient_detail", args=[patient.pk]))
    )
    assert page == expected
    assert "Ana &lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;" in page and MARKUP not in page
    assert 'id="intake-diff"' in page and "side-effect-report" in page
    for part in (
        'id="changed-medications"',
        'id="changed-allergies"',
        'id="changed-prescribed-nsaid"',
        'class="change-reason"',
        "nsaid-prescribed",
        "Declares a prescribed NSAID",
        "intake-diff-added",
        'class="alert alert-info',
        "Later &lt;b&gt;",
        "btn-outline-danger",  # a failed reminder's resend
        "cancelled by Eve",
        "Took over a duplicate record: no. 7 &lt;b&gt;",
    ):
        assert part in page, part
    assert ('<img src="/' in page) == (reader != "staff_client")  # may see photos


@pytest.mark.parametrize("reader", ROLES)
def test_an_empty_record_is_the_templates_byte_for_byte(reader, request):
    patient = PatientFactory(
        intake=False, phone="", contact_consent_at=None, medications="", reminders_by_email=False
    )
    client = request.getfixturevalue(reader)
    page, expected = as_the_reference_renders_it(
        client.get(reverse("patient_detail", args=[patient.pk]))
    )
    assert page == expected
    assert 'id="intake-missing"' in page and "No sessions yet." in page


@pytest.mark.parametrize("reader", ROLES)
def test_a_merged_record_is_the_templates_byte_for_byte(reader, request):
    kept, duplicate = PatientFactory(), PatientFactory()
    book(duplicate, date(2027, 3, 10))
    merge_patients(duplicate=duplicate, kept=kept, merged_by=UserFactory(role=roles.CLINIC_ADMIN))
    client = request.getfixturevalue(reader)
    for patient in (duplicate, kept):
        page, expected = as_the_reference_renders_it(
            client.get(reverse("patient_detail", args=[patient.pk]))
        )
        assert page == expected
    assert 'id="merged-into"' not in page


def test_a_reviewed_intake_with_lines_is_the_templates_byte_for_byte(clinician_client):
    patient = PatientFactory(intake=False, user=UserFactory(role=roles.PATIENT))
    version = pending_intake(patient, smoking="current", medical_history="")
    review_intake(version=version, reviewed_by=clinician(first_name="", last_name=""))
    reconfirm(patient, at=at(date(2026, 2, 1)))
    page, expected = as_the_reference_renders_it(
        clinician_client.get(reverse("patient_detail", args=[patient.pk]))
    )
    assert page == expected
    assert 'id="intake-reviewed"' in page and 'id="intake-reconfirmed"' in page


@given(
    st.one_of(
        st.text(),
        st.text().map(mark_safe),
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False, places=2),
        st.dates(),
        st.booleans(),
        st.none(),
        st.just(gettext_lazy("Reminders")),
    )
)
def test_staff_said_is_blocktranslates_escaping(value):
    """ui.rows.staff_said puts text in with `escaped` (no lazy-argument checks): the same
    as the tag's localize and conditional_escape, for text, safe text and anything else."""
    words = "said %(value)s & <b>%(value)s</b>"
    expected = words % {"value": conditional_escape(localize(value))}
    assert staff_said(words, value=value) == expected
    assert type(staff_said(words, value=value)) is SafeString


@pytest.mark.parametrize("limit", [100, 2])
def test_the_reminders_rows_are_for_patients_instances(limit):
    """The page reads its reminders as rows (reminders.selectors.for_patient_rows): the
    same reminders in the same order, with the same attempts, as for_patient's instances."""
    patient, _ = a_full_record()
    book(PatientFactory(), date(2027, 5, 10))  # another patient's reminders are not read
    reminder = Reminder.objects.filter(session__patient=patient).order_by("-due_at", "-id")[1]
    DeliveryAttempt.objects.create(
        reminder=reminder, attempted_at=at(date(2026, 1, 3), 9), succeeded=True
    )
    rows = reminder_selectors.for_patient_rows(patient.pk, limit=limit)
    instances = reminder_selectors.for_patient(patient, limit=limit)
    assert len(rows) == len(instances) == min(limit, len(instances)) > 1
    for row, r in zip(rows, instances, strict=True):
        assert (row.pk, row.kind, row.channel, row.state, row.due_at, row.status_note) == (
            r.pk,
            r.kind,
            r.channel,
            r.state,
            r.due_at,
            r.status_note,
        )
        assert [(a.attempted_at, a.succeeded, a.error) for a in row.deliveries] == [
            (a.attempted_at, a.succeeded, a.error) for a in r.deliveries.all()
        ]
    assert sum(len(row.deliveries) for row in rows) >= 1
    assert reminder_selectors.for_patient_rows(PatientFactory().pk) == []


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
    st.sampled_from(["Europe/Berlin", "Europe/Istanbul", "America/New_York"]),
    st.sampled_from(["en-gb", "de", "tr"]),
)
def test_session_at_is_its_dateformat(instant, zone, language):
    """treatments.formatting.session_at formats its day once a process (formatted_day):
    the same text as dateformat's 'D j M Y' of the site's local start."""
    tz = ZoneInfo(zone)
    session = SimpleNamespace(starts_at=instant, tz=tz)
    start = instant.astimezone(tz)
    with translation.override(language):
        expected = f"{dateformat.format(start, 'D j M Y')}, {named_time(f'{start:%H:%M}', tz)}"
        assert session_at(session) == expected
