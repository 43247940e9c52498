"""clinic/postgresql: a read sent a second time on a connection is PREPAREd and EXECUTEd
from then on, with the same rows, logged as Django wrote it; what cannot be prepared is
sent as it is, inside a transaction or not, and never breaks the transaction."""

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic.postgresql import base

pytestmark = pytest.mark.django_db(transaction=True)


def prepared() -> dict[str, str]:
    """This connection's prepared statements: {name: the statement PostgreSQL keeps}."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def read(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_a_read_seen_before_is_prepared_and_gives_the_same_rows():
    ada = User.objects.create_user("ada", first_name="Ada")
    bob = User.objects.create_user("bob", first_name="Bob")
    connection.close()  # a new connection: nothing prepared or seen yet
    by_id = User.objects.filter(pk=ada.pk)
    assert [u.first_name for u in by_id] == ["Ada"]  # first time: sent as it is
    assert not any('"auth_user"' in s for s in prepared().values())
    with CaptureQueriesContext(connection) as log:
        assert [u.first_name for u in User.objects.filter(pk=bob.pk)] == ["Bob"]
        assert [u.first_name for u in User.objects.filter(pk=ada.pk)] == ["Ada"]
        assert list(User.objects.filter(pk=-1)) == []
    kept = [s for s in prepared().values() if '"auth_user"' in s]
    assert len(kept) == 1 and kept[0].startswith("PREPARE clinic_plan_")
    assert "$1" in kept[0]
    # Logged as the ORM wrote it, with its parameters: not as EXECUTE.
    logged = [q["sql"] for q in log.captured_queries]
    assert all(q.startswith('SELECT "auth_user"."id"') for q in logged), logged
    assert logged[0].endswith(f'WHERE "auth_user"."id" = {bob.pk}')


def test_what_cannot_be_prepared_is_sent_as_it_is_even_in_a_transaction():
    connection.close()
    for _ in range(3):
        assert read("SELECT %s IS NULL", [None]) == [(True,)]  # PostgreSQL refuses it
        # Placeholders and parameters that do not match are psycopg2's error, as before.
        with pytest.raises(IndexError):
            read("SELECT %s, %s::int", [1])
    with transaction.atomic():
        User.objects.create_user("in-a-transaction")
        assert read("SELECT %s IS NULL", [None]) == [(True,)]
        assert read("SELECT %s::text LIKE 'un%%'", ["untyped"]) == [(True,)]
        assert read("SELECT %s::text LIKE 'un%%'", ["other"]) == [(False,)]  # prepared now
    assert User.objects.filter(username="in-a-transaction").exists()  # committed
    statements = prepared().values()
    assert not any("IS NULL" in s for s in statements)
    assert any("LIKE 'un%'" in s for s in statements)  # a literal % kept as it is


def test_a_failed_statement_in_a_transaction_fails_as_it_would_unprepared():
    from django.db import DatabaseError

    connection.close()
    read("SELECT %s::int / 1", [1])
    with pytest.raises(DatabaseError), transaction.atomic():
        read("SELECT %s::int / 0", [1])  # division by zero: the transaction is aborted
    assert read("SELECT %s::int / 1", [6]) == [(6,)]


def test_the_least_recently_used_are_deallocated(monkeypatch):
    monkeypatch.setattr(base, "KEPT", 3)
    connection.close()
    for n in range(6):
        for _ in range(2):
            assert read(f"SELECT %s::int + {n}", [1]) == [(1 + n,)]
    kept = sorted(s.split(" AS ")[1] for s in prepared().values() if "::int +" in s)
    assert kept == ["SELECT $1::int + 3", "SELECT $1::int + 4", "SELECT $1::int + 5"]
    assert read("SELECT %s::int + 0", [1]) == [(1,)]  # evicted: sent as it is again


def test_switched_off_nothing_is_prepared(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    connection.close()
    for _ in range(3):
        assert read("SELECT %s::int * 2", [21]) == [(42,)]
    assert not any("* 2" in s for s in prepared().values())
    settings.DATABASE_PREPARED_STATEMENTS = True
    connection.close()


def test_each_parameter_means_what_it_meant_unprepared():
    """The parameters are declared with the types of the literals psycopg2 would have
    written (a day stays a day, an instant an instant, a big number is not cut to int4);
    another set of types is another statement; values with no such type go unprepared."""
    import uuid
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    connection.close()
    sql = "SELECT %s + 1, pg_typeof(%s)::text"
    for _ in range(3):
        assert read(sql, [2**40, 2**40]) == [(2**40 + 1, "bigint")]
        assert read(sql, [Decimal("1.5"), Decimal("1.5")]) == [(Decimal("2.5"), "numeric")]
        assert read(sql, [date(2027, 2, 28), date(2027, 2, 28)]) == [(date(2027, 3, 1), "date")]
        assert read(sql, [2**70, 2**70]) == [(2**70 + 1, "numeric")]  # beyond bigint
        assert read(sql, [1.5, 1.5]) == [(2.5, "numeric")]  # a float: unprepared
    at = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    for _ in range(3):
        assert read("SELECT %s + %s", [at, timedelta(hours=1)]) == [(at + timedelta(hours=1),)]
        key = uuid.uuid4()
        assert read("SELECT %s::text = %s", [key, str(key)]) == [(True,)]
        assert read("SELECT %s AND NOT %s", [True, False]) == [(True,)]
    statements = list(prepared().values())
    declared = [s.split(" AS ")[0].split(" ", 2)[2] for s in statements if "pg_typeof" in s]
    assert sorted(declared) == ["(bigint, bigint)", "(date, date)", "(numeric, numeric)"]
    assert any("(timestamptz, interval)" in s for s in statements)
