"""seed_scale (the benchmark's data set, written with COPY): a small run on the test database
gives rows of the expected shape that keep every rule, moves the sequences past them, leaves
the history's actor on what it writes through the ORM, and refuses a second run."""

import io
import json
import re
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from patients.models import Patient
from reminders.management.commands.seed_scale import Command
from reminders.models import Reminder
from treatments.models import FollowUp, Room, SessionVial, TreatmentSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]

PATIENTS = 300


def seed(**options):
    out = io.StringIO()
    # Chunks of 70 patients: several rounds through the writer thread, the last one short.
    call_command("seed_scale", patients=PATIENTS, chunk=70, stdout=out, **options)
    return out.getvalue()


def fetch(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


INDEXES = (
    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index WHERE"
    " indrelid::regclass::text IN ('patients_patient', 'treatments_treatmentsession',"
    " 'treatments_sessionvial', 'treatments_followup', 'treatments_reminder') ORDER BY 1"
)
CONSTRAINTS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid::regclass::text"
    " IN ('patients_patient', 'treatments_treatmentsession', 'treatments_sessionvial',"
    " 'treatments_followup', 'treatments_reminder') ORDER BY 1"
)


def normal(rows):
    casts = re.compile(r"::(character varying|text)(\[\])?|[()\[\] ]|ARRAY")
    return [(name, casts.sub("", definition)) for name, definition in rows]


def test_seed_scale_writes_the_shape_and_keeps_every_rule():
    indexes, constraints = fetch(INDEXES), fetch(CONSTRAINTS)
    # As at scale: the indexes dropped while copying, made again (and the unique and
    # exclusion constraints checked over every row) afterwards.
    output = seed(indexes_after=True)
    # The same names and definitions; PostgreSQL may spell a predicate's casts differently
    # once it is made from its own text, as after pg_dump and a restore.
    assert normal(fetch(INDEXES)) == normal(indexes)
    assert normal(fetch(CONSTRAINTS)) == normal(constraints)
    assert len([name for name, _ in constraints if "no_overlap" in name]) == 2
    assert f"{PATIENTS} patients" in output

    patients = Patient.objects.filter(email__startswith="scale-")
    assert patients.count() == PATIENTS
    never_treated = patients.filter(email__startswith="scale-new-").count()
    assert 0 < never_treated < PATIENTS * 0.1
    assert not patients.filter(email__startswith="scale-new-", sessions__isnull=False).exists()

    sessions = TreatmentSession.objects.all()
    per_patient = sessions.count() / (PATIENTS - never_treated)
    assert 1.8 < per_patient < 2.8  # about 2.3
    statuses = Counter(sessions.values_list("status", flat=True))
    assert set(statuses) == {"completed", "cancelled", "no_show", "scheduled"}
    assert statuses["completed"] > 0.8 * sum(statuses.values())
    # Every completed session used one vial of the lot, and only those.
    assert SessionVial.objects.count() == statuses["completed"]
    assert not SessionVial.objects.exclude(session__status="completed").exists()

    # Every session has its plan's follow-ups; done ones carry their measurements.
    kinds = len(sessions.first().protocol.terms.follow_up_plan)
    assert FollowUp.objects.count() == kinds * sessions.count()
    assert set(FollowUp.objects.values_list("status", flat=True)) == {
        "done",
        "missed",
        "planned",
        "cancelled",
    }
    assert not FollowUp.objects.filter(status="done", hair_density_per_cm2__isnull=True).exists()
    assert not FollowUp.objects.filter(session__status="cancelled").exclude(status="cancelled")
    # Reminders in every state, on both channels.
    assert set(Reminder.objects.values_list("state", flat=True)) == {
        "sent",
        "failed",
        "expired",
        "pending",
        "withdrawn",
    }
    assert set(Reminder.objects.values_list("channel", flat=True)) == {"email", "sms"}
    assert Reminder.objects.filter(follow_up__isnull=False).exists()

    # The rules the exclusion constraints keep, asked of the rows themselves: no clinician or
    # room twice at once, no two live sessions of a patient within the gap.
    live = "status IN ('scheduled', 'confirmed', 'completed')"
    for column in ("clinician_id", "room_id"):
        assert fetch(
            f"SELECT count(*) FROM treatments_treatmentsession a JOIN treatments_treatmentsession"
            f" b ON a.{column} = b.{column} AND a.id < b.id AND a.starts_at < b.ends_at AND"
            f" b.starts_at < a.ends_at WHERE a.{live} AND b.{live}"
        ) == [(0,)]
    assert fetch(
        "SELECT count(*) FROM treatments_treatmentsession a JOIN treatments_treatmentsession b"
        " ON a.patient_id = b.patient_id AND a.id < b.id AND a.local_date < b.gap_until AND"
        f" b.local_date < a.gap_until WHERE a.{live} AND b.{live}"
    ) == [(0,)]

    # The sequences moved past the copied ids: the next rows made the usual way fit.
    Patient.objects.create(first_name="After", last_name="Seed", date_of_birth="1980-01-01")
    assert Patient.objects.order_by("-pk").first().first_name == "After"

    # Copied rows have no history events (written with the triggers off); the rows made
    # through the ORM are the command's in the history.
    assert fetch("SELECT count(*) FROM treatments_treatmentsessionevent") == [(0,)]
    contexts = fetch("SELECT DISTINCT pgh_context::text FROM treatments_roomevent")
    assert len(contexts) == 1
    assert json.loads(contexts[0][0])["actor"] == "system: seed_scale"
    assert Room.objects.filter(name__startswith="Scale room").count() == 40

    with pytest.raises(CommandError, match="already holds scale data"):
        seed()


def test_the_foreign_key_check_finds_an_orphan():
    """With the foreign-key triggers off while copying, the final check is the guard: it
    must see a row that points at nothing."""
    seed()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                "UPDATE treatments_reminder SET follow_up_id = 999999999 WHERE id = "
                "(SELECT min(id) FROM treatments_reminder)"
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    with pytest.raises(CommandError, match="treatments_reminder.follow_up_id: 1"):
        Command()._check_foreign_keys()
    Reminder.objects.filter(follow_up_id=999999999).delete()


@pytest.mark.parametrize("indexes_after", [False, True])
def test_a_double_booking_is_refused(monkeypatch, indexes_after):
    """The exclusion constraints stand behind the generator: every session in one slot (one
    clinician, one room, one hour) fails, whether the constraint is checked while copying or
    when it is made again after."""
    constraints = {
        name: (table, definition)
        for name, table, definition in fetch(
            CONSTRAINTS.replace("conname,", "conname, conrelid::regclass::text,")
        )
    }
    monkeypatch.setattr(Command, "_slot", lambda self, day: (day, 0, 8))
    try:
        with pytest.raises(CommandError, match="session_(clinician|room)_no_overlap"):
            call_command(
                "seed_scale", patients=30, indexes_after=indexes_after, stdout=io.StringIO()
            )
    finally:
        # The constraints the rows broke could not be made again: remove the rows and put
        # them back, or the (reused) test database would lose them.
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE patients_patient, treatments_treatmentsession, treatments_sessionvial,"
                " treatments_followup, treatments_reminder CASCADE"
            )
        after = {name for name, _ in fetch(CONSTRAINTS)}
        with connection.cursor() as cursor:
            for name, (table, definition) in constraints.items():
                if name not in after:
                    cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        assert {name for name, _ in fetch(CONSTRAINTS)} == set(constraints)
