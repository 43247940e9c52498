"""The recall list: patients due for their next session (now or within N weeks) with nothing
booked, their last session, outcome so far and how they like to be contacted."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from tests.factories import PatientFactory, at, book
from treatments import recall, services
from treatments.models import FollowUp

pytestmark = pytest.mark.django_db

TODAY = date(2027, 1, 4)  # tests.factories.NOW


def past(patient, day, **kwargs):
    """A session on `day`, booked a month before it (it is in the past by NOW)."""
    return book(patient, day, now=at(day - timedelta(days=30)), **kwargs)


def seen(follow_ups, day, **findings):
    """These follow-ups recorded as seen on `day` by their session's clinician."""
    for follow_up in follow_ups.select_related("session"):
        FollowUp.objects.filter(pk=follow_up.pk).update(
            status="done",
            seen_on=day,
            seen_by=follow_up.session.clinician,
            seen_at=at(day),
            **findings,
        )


def test_who_is_due(frozen):
    due_now = PatientFactory(last_name="Alpha")
    past(due_now, date(2026, 6, 1))  # gap ended 1 December 2026
    due_soon = PatientFactory(last_name="Beta")
    past(due_soon, date(2026, 7, 20))  # gap ends 20 January 2027
    later = PatientFactory(last_name="Gamma")
    past(later, date(2026, 9, 1))  # gap ends 1 March 2027: not within four weeks
    rebooked = PatientFactory(last_name="Delta")
    past(rebooked, date(2026, 6, 1))
    book(rebooked, date(2027, 3, 10))  # booked again: not on the list
    PatientFactory(last_name="Never")  # never treated: not a recall
    cancelled = PatientFactory(last_name="Epsilon")
    session = past(cancelled, date(2026, 12, 20))
    services.cancel_session(session=session, reason="ill", cancelled_by=session.booked_by)

    found = list(recall.due_patients(today=TODAY))
    assert [p.last_name for p in found] == ["Alpha", "Beta"]
    assert found[0].last_day == date(2026, 6, 1) and found[0].due_day == date(2026, 12, 1)
    assert [p.last_name for p in recall.due_patients(today=TODAY, within_weeks=0)] == ["Alpha"]
    assert "Gamma" in [p.last_name for p in recall.due_patients(today=TODAY, within_weeks=9)]


def test_a_patient_with_several_sessions_is_listed_once_from_the_latest(frozen):
    # Both gaps have ended: listed once, due from the latest session's gap (the list once
    # joined the sessions twice and showed her once per session, due from each one's gap).
    patient = PatientFactory(last_name="Twice")
    past(patient, date(2025, 11, 3))  # gap ended 3 May 2026
    past(patient, date(2026, 6, 1))  # gap ended 1 December 2026
    found = list(recall.due_patients(today=TODAY))
    assert [(p.last_name, p.due_day, p.last_day) for p in found] == [
        ("Twice", date(2026, 12, 1), date(2026, 6, 1))
    ]


def test_the_latest_outcome_is_shown(frozen):
    patient = PatientFactory()
    session = past(patient, date(2026, 6, 1))
    follow_ups = list(FollowUp.objects.filter(session=session).order_by("due_date"))
    seen(FollowUp.objects.filter(pk=follow_ups[0].pk), date(2026, 7, 1), patient_rating=6)
    seen(
        FollowUp.objects.filter(pk=follow_ups[1].pk),
        date(2026, 9, 1),
        patient_rating=8,
        hair_density_per_cm2=150,
    )
    (found,) = recall.due_patients(today=TODAY)
    assert found.rating == 8 and found.density == 150 and found.seen_on == date(2026, 9, 1)


def test_the_page(staff_client, django_assert_max_num_queries):
    for i in range(3):
        patient = PatientFactory(last_name=f"Due{i}", reminders_by_sms=i == 1, phone="+4930123456")
        past(patient, date(2026, 6, 1))
    url = reverse("recall")
    with django_assert_max_num_queries(8):
        html = staff_client.get(url).content.decode()
    assert html.count("Due") >= 3 and "01 Jun 2026" in html and ">now<" in html
    assert "SMS +4930123456" in html and "no follow-up yet" in html
    assert "email " in html and "; SMS +4930123456" in html  # both channels of Due1
    evil = PatientFactory(last_name="<i>Evil", first_name='"x"')
    past(evil, date(2026, 6, 1))
    html = staff_client.get(url).content.decode()
    assert "<i>" not in html and "&lt;i&gt;Evil, &quot;x&quot;</a>" in html
    for i in range(3, 12):
        past(PatientFactory(last_name=f"Due{i}"), date(2026, 6, 1))
    with django_assert_max_num_queries(8):
        staff_client.get(url, {"weeks": 8})


def test_nonsense_weeks_fall_back_to_the_default(staff_client):
    for weeks in ("x", "-1", "53", "1e9", "9" * 30):
        response = staff_client.get(reverse("recall"), {"weeks": weeks})
        assert response.status_code == 200
        assert 'value="4"' in response.content.decode()


def test_a_patient_may_not_see_it(client, frozen):
    from tests.test_portal import portal_client

    response = portal_client(PatientFactory()).get(reverse("recall"))
    assert response.status_code in (302, 403)


@pytest.mark.django_db(transaction=True)  # as on a page: serial_plan's is the transaction
def test_the_page_is_planned_without_parallel_workers_for_its_transaction_only():
    from django.db import connection

    def workers():
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            return cursor.fetchone()[0]

    before = workers()
    with recall.serial_plan():
        assert workers() == "0"
    assert workers() == before


def test_the_pages_rows_are_read_as_the_orm_reads_them(frozen):
    """due_rows sends the ORM's own statement (compiled once for each slice) and gives the
    rows due_patients gives (its outcome's three subqueries read as one column), for
    several windows and slices, empty ones included."""
    for i in range(4):
        patient = PatientFactory(last_name=f"Due{i}", reminders_by_sms=i % 2 == 1)
        session = past(patient, date(2026, 6, 1) + timedelta(days=20 * i))
        if i == 2:
            seen(
                FollowUp.objects.filter(session=session),
                date(2026, 7, 1),
                patient_rating=7,
                hair_density_per_cm2=141.5,
            )
        if i == 1:  # seen twice: the later one, which measured only a density of 150
            first, second = FollowUp.objects.filter(session=session).order_by("due_date")[:2]
            seen(FollowUp.objects.filter(pk=first.pk), date(2026, 7, 1), patient_rating=9)
            seen(FollowUp.objects.filter(pk=second.pk), date(2026, 8, 1), hair_density_per_cm2=150)
        if i == 3:  # seen, nothing measured
            seen(FollowUp.objects.filter(session=session), date(2026, 9, 1))
    for weeks, start, stop in [(4, 0, 51), (4, 1, 3), (0, 0, 51), (52, 2, 5), (52, 50, 101)]:
        orm = recall.due_patients(today=TODAY, within_weeks=weeks).values(*recall.SHOWN)
        orm = orm[start:stop]
        due_by = TODAY + timedelta(weeks=weeks)
        read = recall._due_values(TODAY, due_by)[start:stop]
        sql, params = read.query.sql_with_params()
        prepared = recall._page_read(start, stop)
        assert prepared.sql_with_params(today=TODAY, due_by=due_by) == (sql, list(params))
        rows = recall.due_rows(today=TODAY, within_weeks=weeks, start=start, stop=stop)
        assert rows == list(orm)
        # ...to their types and a decimal's places (Decimal("150") == Decimal("150.0")).
        assert [{k: repr(v) for k, v in row.items()} for row in rows] == [
            {k: repr(v) for k, v in row.items()} for row in orm
        ]
    assert len(recall.due_rows(today=TODAY, within_weeks=52, start=0, stop=51)) == 4


def test_decimals_are_localized_as_localize_does(settings):
    from decimal import Decimal

    from django.utils import translation
    from django.utils.formats import localize

    from ui.rows import decimal_maker

    values = [Decimal("150.0"), Decimal("0.5"), Decimal("-12.3"), Decimal("7"), Decimal("1E+2")]
    for language in ("en", "de", "tr"):
        with translation.override(language):
            decimal = decimal_maker()
            assert [decimal(v) for v in values] == [localize(v) for v in values]
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override("de"):
        assert decimal_maker()(Decimal("12345.6")) == localize(Decimal("12345.6"))
