"""Reads that pages make on every request (the user with their roles, the second-factor
device, a booking's checks, the slot finder's reference rows), compiled to SQL once per
process instead of on every request.

Building a queryset and compiling it costs more CPU than PostgreSQL spends answering it
(0.8 ms for the user with the ArrayAgg of their roles, 0.6 ms for the device, about 2 ms for
the booking's checks, against about 0.1 ms to run the compiled statement): here the ORM
compiles the queryset once, with a placeholder for each argument, and each call sends the
same statement with the arguments in the placeholders' places and builds the instances
(PreparedGet: Model.from_db, the field converters, the annotations, select_related's
instances) or the rows (PreparedValues) as the ORM would. What is read, and so what the
checks see, is exactly what the queryset reads (tests/test_prepared_reads.py compares the
statements and rows with the ORM's).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import Func, JSONField, Model
from django.db.models.functions import JSONArray
from django.db.models.query import get_related_populators

_PLACEHOLDER = -1_734_022_117  # an id no row has (within int4): marks the key's parameter


class PreparedGet:
    """`PreparedGet(lambda pk: Model.objects.filter(pk=pk)...)`; `get(pk)` returns the first
    row's instance or None, `all(pk)` every row's. The queryset is compiled at the first
    call, per database (and for `get` with LIMIT 1)."""

    def __init__(self, build: Callable[..., Any], *, key: type | None = int):
        """`key`: the type of the key (an id by default; a date for a read as of a day;
        None: `build()` takes no key, a read whose statement never changes)."""
        self._build = build
        self._placeholder = None if key is None else placeholder(key, 0)
        self._compiled: dict[tuple[str, bool], tuple] = {}

    def _compile(self, alias: str, many: bool) -> tuple:
        if self._placeholder is None:
            queryset = self._build()
        else:
            queryset = self._build(self._placeholder)
        if not many:
            queryset = queryset[:1]
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        stand_in = self._placeholder
        # Every place the key goes (a UNION's branches each filter by it).
        at = [] if stand_in is None else [i for i, v in enumerate(params) if _is(v, stand_in)]
        if stand_in is not None and not at:
            raise ValueError("The queryset must use the key.")
        klass_info = compiler.klass_info
        if klass_info is None or queryset._known_related_objects:
            raise ValueError("A queryset of model instances, not of a related manager.")
        select = compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        compiled = (
            sql,
            list(params),
            at,
            compiler,
            converters,
            klass_info["model"],
            (start, end),
            init_list,
            dict(compiler.annotation_col_map or {}),
            # select_related's instances, set on each as the ORM's ModelIterable sets them.
            get_related_populators(klass_info, select, alias),
        )
        self._compiled[alias, many] = compiled
        return compiled

    def _rows(self, pk, using: str, many: bool) -> list:
        compiled = self._compiled.get((using, many)) or self._compile(using, many)
        sql, params, at, compiler, converters, *_ = compiled
        if at:
            params = list(params)
            for position in at:
                params[position] = pk
        return _fetch(using, sql, params, compiler, converters)

    def _instances(self, pk, using: str, many: bool) -> list:
        if not _compiles_once(using):
            queryset = (self._build() if self._placeholder is None else self._build(pk)).using(
                using
            )
            return list(queryset if many else queryset[:1])
        rows = self._rows(pk, using, many)
        return [self.instance(row, using, many=many) for row in rows]

    def rows(self, pk=None, using: str = "default") -> list:
        """`all()`'s rows, not yet instances (`instance(row)` makes one, `pk_of(row)` reads
        its id): for a caller that needs a few of many. (Where the ORM reads it, the rows
        are the instances.)"""
        if not _compiles_once(using):
            return self._instances(pk, using, many=True)
        return self._rows(pk, using, many=True)

    def instance(self, row, using: str = "default", *, many: bool = True):
        if isinstance(row, Model):
            return row
        compiled = self._compiled[using, many]
        model, (start, end), init_list, annotations, related = compiled[5:]
        instance = model.from_db(using, init_list, row[start:end])
        for populator in related:
            populator.populate(row, instance)
        for name, position in annotations.items():
            setattr(instance, name, row[position])
        return instance

    def positions(self, using: str = "default") -> dict[str, int]:
        """{field's attname: its place in a row of `rows()`}, for a caller that reads a
        few fields of many rows without making instances (after a `rows()` call)."""
        compiled = self._compiled[using, True]
        (start, _), init_list = compiled[6], compiled[7]
        return {name: start + n for n, name in enumerate(init_list)}

    def pk_of(self, row, using: str = "default"):
        if isinstance(row, Model):
            return row.pk
        compiled = self._compiled[using, True]
        model, (start, _), init_list = compiled[5:8]
        return row[start + init_list.index(model._meta.pk.attname)]

    def get(self, pk=None, using: str = "default"):
        if type(pk) is int and not 0 < pk < 2**63:
            return None  # an id beyond bigint's range is no row (the ORM would not ask)
        found = self._instances(pk, using, many=False)
        return found[0] if found else None

    def all(self, pk=None, using: str = "default") -> list:
        return self._instances(pk, using, many=True)


def prefetched(owners, name: str, rows, owner_id: str) -> None:
    """Each owner's `name` related manager answers from `rows` (in their order), as after
    `prefetch_related(name)`: `owner.<name>.all()` reads no more. For rows read by a
    PreparedGet (the ORM's prefetch would compile its query anew on every request). It
    fills the cache Django's prefetch_related fills (`_prefetched_objects_cache`, private
    to Django: tests/test_prepared_reads.py checks that `.all()` then sends no query)."""
    by_owner = defaultdict(list)
    for row in rows:
        by_owner[getattr(row, owner_id)].append(row)
    for owner in owners:
        queryset = getattr(owner, name).get_queryset()
        queryset._result_cache = by_owner.get(owner.pk, [])
        queryset._prefetch_done = True
        owner.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def by_id(model) -> PreparedGet:
    """The row of `model` with this id."""

    def build(pk):
        return model._default_manager.filter(id=pk)

    return PreparedGet(build)


class JsonRows:
    """A model's rows read as one column of another statement (PostgreSQL): `array(queryset)`
    is an ARRAY of the queryset's rows, each a JSON array of the model's concrete fields in
    their order (as treatments.availability reads its row sets in one statement), and
    `instance(row)` makes a row the instance the ORM would have made (Model.from_db with
    the values as the database driver gives them: instants, days and times parsed from
    their ISO text). Only for models whose fields JSON carries exactly: numbers, text,
    booleans, days, times and instants (others raise at construction).
    `only`: read just these fields (by attname, the id among them), as `.only()` reads them:
    the instance defers the others, and reading one of those later is a query of its own
    (for a caller that needs a few columns of many rows: the slot finder's clinicians).
    tests/test_prepared_reads.py compares the instances with the ORM's."""

    def __init__(self, model: type[Model], *, only: tuple[str, ...] | None = None):
        fields = model._meta.concrete_fields
        if only is not None:
            unknown = set(only) - {field.attname for field in fields}
            if unknown:
                raise ValueError(f"Not fields of {model.__name__}: {', '.join(sorted(unknown))}.")
            # In the model's order, as Model.from_db takes a deferred instance's values.
            fields = [field for field in fields if field.attname in only]
            if model._meta.pk not in fields:
                raise ValueError("The id is one of the fields read.")
        self.model = model
        self.attnames = [field.attname for field in fields]
        self._loaders = [_json_loader(field) for field in fields]
        self._as_given = all(load is None for load in self._loaders)  # JSON's values as they are
        self.pk_at = self.attnames.index(model._meta.pk.attname)  # the id's place in a row

    def array(self, queryset):
        """The queryset's rows as one JSON document (an array of arrays, in its order): one
        value for the driver to hand over and one json.loads, not one per row."""
        return json_array(queryset.values(row=JSONArray(*self.attnames)))

    @staticmethod
    def rows(column) -> list[list]:
        """The column's rows (their values still as JSON gives them)."""
        return json_rows(column)

    def pk_of(self, row):
        return row[self.pk_at]

    def instance(self, row, using: str = "default"):
        if self._as_given:
            return self.model.from_db(using, self.attnames, row)
        values = [
            value if load is None or value is None else load(value)
            for load, value in zip(self._loaders, row, strict=True)
        ]
        return self.model.from_db(using, self.attnames, values)


def json_rows(column) -> list:
    """A JSON column's value as Python (psycopg2 parses jsonb itself, json arrives as text)."""
    return json.loads(column) if isinstance(column, str) else column


def json_array(rows) -> Func:
    """A one-column queryset as one JSON array of its values, in its order (PostgreSQL)."""
    return Func(ArraySubquery(rows), function="to_jsonb", output_field=JSONField())


_JSON_NATIVE = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "ForeignKey",
    "OneToOneField",
    "CharField",
    "TextField",
    "EmailField",
    "SlugField",
    "URLField",
    "BooleanField",
}


def _instant_from_json(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


_JSON_LOADERS: dict[str, Callable[[Any], Any]] = {
    "DateTimeField": _instant_from_json,
    "DateField": date.fromisoformat,
    "TimeField": time.fromisoformat,
}


def _json_loader(field) -> Callable[[Any], Any] | None:
    """How a field's JSON value becomes what the driver gives (None: as it is). A JSONField's
    value comes parsed already, as its from_db_value would parse it (with no decoder)."""
    kind = field.get_internal_type()
    if kind in _JSON_NATIVE or (kind == "JSONField" and field.decoder is None):
        return None
    if kind in _JSON_LOADERS:
        return _JSON_LOADERS[kind]
    raise ValueError(f"{field.model.__name__}.{field.name}: {kind} is not read from JSON here.")


class PreparedCount:
    """`PreparedCount(lambda: Model.objects.filter(...))`; `count()` is the queryset's
    `.count()`, its SQL compiled once per database (a filter with no arguments that change)."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._compiled: dict[str, tuple[str, tuple]] = {}

    def count(self, using: str = "default") -> int:
        compiled = self._compiled.get(using)
        if compiled is None:
            query = self._build().order_by().values("pk").query
            inner, params = query.get_compiler(using=using).as_sql()
            compiled = self._compiled[using] = (
                f"SELECT COUNT(*) FROM ({inner}) AS counted",  # noqa: S608 (the ORM's SQL)
                tuple(params),
            )
        sql, params = compiled
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]


def _compiles_once(using: str) -> bool:
    """Whether reads are compiled once on this database: on PostgreSQL. Elsewhere (the
    embedded SQLite of a development machine) the ORM reads them: SQLite's backend turns a
    day, an instant or a UUID into text, which the placeholders would not find."""
    return connections[using].vendor == "postgresql"


def _fetch(using: str, sql: str, params: list, compiler, converters) -> list:
    """The statement's rows, each column converted as the ORM converts it (its field's
    from_db_value, the backend's converters)."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if converters:
        rows = list(compiler.apply_converters(rows, converters))
    return rows


def placeholder(kind: type, n: int):
    """The `n`th stand-in value of a type, marking where an argument goes in a compiled
    statement: values no argument, constant or row has (an id below any sequence's, days
    and instants in the first century, a UUID of zeros but its last bits)."""
    if kind is int:
        return _PLACEHOLDER - n
    if kind is date:
        return date(1, 1, 2) + timedelta(days=n)
    if kind is datetime:
        return datetime(1, 1, 2, tzinfo=UTC) + timedelta(seconds=n + 1)
    if kind is uuid.UUID:
        return uuid.UUID(int=0xB00C1E0 + n)
    raise TypeError(f"No placeholder for {kind.__name__}.")


def _is(value, stand_in) -> bool:
    return type(value) is type(stand_in) and value == stand_in


class PreparedValues:
    """`PreparedValues(build, name=type, ...)`: `build(**arguments)` returns a `values()`
    queryset of those keyword arguments; `rows(**arguments)` returns its rows (dicts), as
    iterating it would, from SQL compiled once per database.

    The queryset is compiled with a placeholder for each argument (`placeholder`) and each
    call puts the arguments in the placeholders' places. Each argument must reach the SQL
    as a parameter (at least once), unchanged: compute a bound (a day's start, a day less)
    before passing it, not in `build`. An argument that changes the statement's shape (a
    list, an optional filter) needs a PreparedValues per shape. `sql_with_params` gives
    the statement and parameters of a call, to compare with the ORM's own."""

    def __init__(self, build: Callable[..., Any], **kinds: type):
        """`kinds`: each argument's type, by name. On the default database."""
        self._build = build
        self._using = "default"
        self._stand_ins = {
            name: placeholder(kind, n) for n, (name, kind) in enumerate(kinds.items())
        }
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        query = self._build(**self._stand_ins).query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        places: list[tuple[int, str]] = []
        for position, value in enumerate(params):
            for name, stand_in in self._stand_ins.items():
                if _is(value, stand_in):
                    places.append((position, name))
        missing = set(self._stand_ins) - {name for _, name in places}
        if missing:
            raise ValueError(f"Not parameters of the statement: {', '.join(sorted(missing))}.")
        # The columns' names as Django's ValuesIterable names them: in the order values()
        # was given them (Django 5.2's query.selected), fields and annotations mixed.
        names = list(query.selected or ()) or [
            *query.extra_select,
            *query.values_select,
            *query.annotation_select,
        ]
        if len(names) != compiler.col_count:
            raise ValueError("A values() queryset: its columns by name.")
        converters = compiler.get_converters(
            [column[0] for column in compiler.select[: compiler.col_count]]
        )
        compiled = (sql, list(params), places, compiler, converters, names)
        self._compiled[alias] = compiled
        return compiled

    def sql_with_params(self, **arguments: Any) -> tuple[str, list]:
        using = self._using
        if not _compiles_once(using):
            sql, orm_params = self._build(**arguments).query.sql_with_params()
            return sql, list(orm_params)
        sql, params, places, *_ = self._compiled.get(using) or self._compile(using)
        params = list(params)
        for position, name in places:
            params[position] = arguments[name]
        return sql, params

    def tuples(self, **arguments: Any) -> list:
        """The rows as tuples (lists where the columns are converted), in the columns'
        order."""
        using = self._using
        if not _compiles_once(using):
            return [
                tuple(row.values()) if isinstance(row, dict) else tuple(row)
                for row in self._build(**arguments)
            ]
        sql, params = self.sql_with_params(**arguments)
        _, _, _, compiler, converters, _ = self._compiled[using]
        return _fetch(using, sql, params, compiler, converters)

    def columns(self) -> list[str]:
        """The names of the statement's columns, in their order (tuples' order)."""
        return (self._compiled.get(self._using) or self._compile(self._using))[5]

    def rows(self, **arguments: Any) -> list[dict[str, Any]]:
        if not _compiles_once(self._using):
            return list(self._build(**arguments))
        names = self.columns()
        return [dict(zip(names, row, strict=True)) for row in self.tuples(**arguments)]


@lru_cache(maxsize=256)
def sliced(build: Callable[..., Any], start: int, stop: int, **kinds: type) -> PreparedValues:
    """`build(**arguments)[start:stop]` (a values() queryset) compiled once a process for
    each slice: Django writes LIMIT and OFFSET into the SQL as numbers, not parameters, so
    each page of a list is a statement of its own (compiled when first asked for). `build`
    is a module-level function (the cache's key); `kinds` as PreparedValues takes them."""
    return PreparedValues(lambda **arguments: build(**arguments)[start:stop], **kinds)


def values_by_ids(read: Callable[[list[int]], Any], ids: list[int]) -> list[dict[str, Any]]:
    """The rows of `read(ids)` (a module-level function returning a values() queryset
    filtered by `…__in=ids`), as iterating it would: none, and no query, without ids. From
    a statement compiled once a process for each number of ids (`IN (%s, …)` has a
    placeholder an id): the rows of a page's few entries, read after the page's own."""
    if not ids:
        return []
    names = [f"id{n}" for n in range(len(ids))]
    return _read_of_ids(read, len(ids)).rows(**dict(zip(names, ids, strict=True)))


@lru_cache(maxsize=256)
def _read_of_ids(read: Callable[[list[int]], Any], count: int) -> PreparedValues:
    return PreparedValues(
        lambda **ids: read(list(ids.values())), **{f"id{n}": int for n in range(count)}
    )
