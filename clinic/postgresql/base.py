"""Django's PostgreSQL backend, with the plans of repeated reads kept per connection.

The pages send short reads, and PostgreSQL spent four to eight times longer planning them
than running them (`make bench` pages at 1,000 patients: the patient page 2.2 ms planning
its 14 queries against 0.4 ms running them; a sessions' read joining five tables 0.6 ms
against 0.15). A read (SELECT) this connection has sent before is PREPAREd the second time
and EXECUTEd from then on, so PostgreSQL plans it at most once per set of parameters until
it settles on a generic plan (its plan_cache_mode `auto`: after five executions, a generic
plan is kept only where it is estimated no costlier than the custom ones).

Transparent to Django: the cursor still receives, logs and passes to execute_wrappers the
statement as the ORM wrote it (query counts, CaptureQueriesContext, `make bench`'s EXPLAIN
see the same SQL); only what goes to the server differs. In a transaction the PREPARE is
made under a savepoint: one PostgreSQL refuses (a parameter whose type it cannot infer, as
in `SELECT %s IS NULL`) must not abort the transaction; a refused one is not tried again on that
connection. At most `KEPT` statements per connection, the least recently used deallocated.

Prepared statements belong to the server session: behind a pooler in transaction mode
(PgBouncer's `pool_mode = transaction`) set DATABASE_PREPARED_STATEMENTS=0.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import uuid
from collections import OrderedDict

import psycopg2
import psycopg2.extensions
from django.conf import settings
from django.db.backends.postgresql import base, operations
from psycopg2.extensions import TRANSACTION_STATUS_INERROR

KEPT = 256  # prepared statements per connection
_SEEN_MAX = 4096  # statements counted per connection before the count starts over
_READ = re.compile(r"\s*\(*\s*SELECT\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%s|%%")


_INT8 = range(-(2**63), 2**63)


def _types(params) -> tuple[str, ...] | None:
    """The parameters' types as psycopg2 writes them into the statement (a typed literal:
    `'2027-03-10'::date`, `'…'::timestamptz`, a number), or `unknown` where its literal is
    untyped (text, NULL) and PostgreSQL infers the type from where it is used, as it does
    for the literal. The EXECUTE's parameters then mean what they meant unprepared. None:
    a value with no such type here (a list, JSON, a float…): sent unprepared."""
    types = []
    for value in params:
        kind = type(value)
        if value is None or kind is str:
            types.append("unknown")
        elif kind is bool:
            types.append("boolean")
        elif kind is int and value in _INT8:
            types.append("bigint")
        elif kind is datetime.datetime:
            types.append("timestamptz" if value.tzinfo else "timestamp")
        elif kind is datetime.date:
            types.append("date")
        elif kind is uuid.UUID:
            types.append("uuid")
        elif kind is decimal.Decimal:
            types.append("numeric")
        elif kind is datetime.timedelta:
            types.append("interval")
        else:
            return None
    return tuple(types)


class _Plans:
    """One connection's prepared statements (by the SQL Django wrote and its parameters'
    types) and the reads seen once."""

    def __init__(self):
        self.prepared: OrderedDict[tuple, str] = OrderedDict()  # key -> EXECUTE statement
        self.seen: set[str] = set()
        self.refused: set[tuple] = set()
        self.number = 0

    def statement_for(self, cursor, sql: str, params) -> str | None:
        """What to send instead of `sql` (an EXECUTE), or None to send `sql` itself."""
        if not params or not isinstance(params, list | tuple):
            return None
        types = _types(params)
        if types is None:
            return None
        key = (sql, types)
        execute = self.prepared.get(key)
        if execute is not None:
            self.prepared.move_to_end(key)
            return execute
        if key in self.refused:
            return None
        if sql not in self.seen:
            if len(self.seen) >= _SEEN_MAX:
                self.seen.clear()
            if _READ.match(sql):
                self.seen.add(sql)
            return None
        return self._prepare(cursor, key)

    def _prepare(self, cursor, key: tuple) -> str | None:
        sql, types = key
        numbers = iter(range(1, len(types) + 1))
        try:
            server_sql = _PLACEHOLDER.sub(
                lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql
            )
        except StopIteration:
            server_sql = None
        if server_sql is None or next(numbers, None) is not None:
            self.refused.add(key)  # placeholders and parameters do not match
            return None
        connection = cursor.connection
        if connection.info.transaction_status == TRANSACTION_STATUS_INERROR:
            return None  # the statement fails anyway, as it would unprepared
        self.number += 1
        name = f"clinic_plan_{self.number}"
        send = functools.partial(psycopg2.extensions.cursor.execute, cursor)
        # In a transaction, a PREPARE PostgreSQL refuses must not abort it: a savepoint.
        # (A prepared statement outlives the transaction it was made in, rolled back or not.)
        guarded = not connection.autocommit
        if guarded:
            send("SAVEPOINT clinic_prepare")
        try:
            send(f"PREPARE {name} ({', '.join(types)}) AS {server_sql}")
        except psycopg2.Error:
            if guarded:
                send("ROLLBACK TO SAVEPOINT clinic_prepare")
                send("RELEASE SAVEPOINT clinic_prepare")
            self.refused.add(key)
            return None
        if guarded:
            send("RELEASE SAVEPOINT clinic_prepare")
        if len(self.prepared) >= KEPT:
            _, oldest = self.prepared.popitem(last=False)
            send(f"DEALLOCATE {oldest.split()[1]}")
        execute = f"EXECUTE {name} ({', '.join(['%s'] * len(types))})"
        self.prepared[key] = execute
        return execute


class PlanKeepingCursor(psycopg2.extensions.cursor):
    plans: _Plans | None = None
    prepared_read = False  # the last statement went to the server as an EXECUTE

    def execute(self, query, vars=None):  # noqa: A002 (psycopg2's own name)
        if self.plans is not None and isinstance(query, str):
            statement = self.plans.statement_for(self, query, vars)
            self.prepared_read = statement is not None
            if statement is not None:
                return super().execute(statement, vars)
        return super().execute(query, vars)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """The statement as Django wrote it, with its parameters (what psycopg2 would have
        sent), where it went to the server as an EXECUTE: the SQL that DEBUG's query log
        and CaptureQueriesContext record."""
        if getattr(cursor, "prepared_read", False):
            return cursor.mogrify(sql, params).decode()
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        self._plans = _Plans() if getattr(settings, "DATABASE_PREPARED_STATEMENTS", True) else None
        return connection

    def create_cursor(self, name=None):
        if name or getattr(self, "_plans", None) is None:
            return super().create_cursor(name)
        cursor = self.connection.cursor(cursor_factory=PlanKeepingCursor)
        cursor.plans = self._plans
        cursor.tzinfo_factory = self.tzinfo_factory if settings.USE_TZ else None
        return cursor
