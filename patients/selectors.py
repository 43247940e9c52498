from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import NamedTuple

from django.db import connection
from django.db.models import BooleanField, CharField, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower, Reverse

from accounts.prepared import PreparedGet, PreparedValues, by_id, sliced

from .models import Patient, PatientChange
from .phones import search_digits

# By name, case-insensitive; `|| ''` keeps the order off the name indexes (search_patients).
SEARCH_ORDER = (
    Concat(Lower("last_name"), Value(""), output_field=CharField()),
    Concat(Lower("first_name"), Value(""), output_field=CharField()),
    "id",
)
# The fields a word matches the start of; each has its patient_<field>_search index (and a
# column of the same name).
PREFIX_FIELDS = ("last_name", "first_name", "email")
TABLE = Patient._meta.db_table


def _word_matches(word: str) -> Q:
    """One word of a search: the start of a name or the email, or (3 digits or more) any
    part of the phone as typed."""
    match = Q()
    for field in PREFIX_FIELDS:
        match |= Q(**{f"{field}__istartswith": word})
    if _phone_word(word):
        match |= Q(phone__icontains=word)
    return match


def _phone_word(word: str) -> bool:
    return sum(ch.isdigit() for ch in word) >= 3


def search_patients(query: str):
    """Patients matching every word of `query`: a word matches the start of the first name,
    last name or email, or (digits) any part of the phone as typed. A query that is a phone
    number ("+49 170 555 0101", "0170 5550101", "5550101") finds the patients whose number
    ends with its digits, whatever shape either was typed in. Ordered by name.

    Sliced (`[start:stop]`, as ui.pagination.window does), a name search reads only the
    page's rows: see NameSearch. Iterated whole, it is one query.
    """
    words = query.split()
    if not words:
        return Patient.objects.order_by("last_name", "first_name", "id")
    digits = search_digits(query)
    if digits is not None:
        # A phone number in any shape: its digits are the end of the stored E.164 copy
        # ("+" and the country code included when the query has its country code).
        # REVERSE(phone_e164) LIKE '1010555%' is served by patient_phone_e164_suffix.
        return (
            Patient.objects.alias(phone_reversed=Reverse("phone_e164"))
            .filter(phone_reversed__startswith=digits[::-1])
            .order_by(*SEARCH_ORDER)
        )
    name_words = [word for word in words if not _phone_word(word)]
    if connection.vendor != "postgresql" or not name_words:
        return _matching(words)
    return NameSearch(words, driver=max(name_words, key=len))


def _matching(words: list[str]):
    """Every patient matching every word, in name order: one queryset."""
    matching = Patient.objects.all()
    for word in words:
        matching = matching.filter(_word_matches(word))
    return matching.order_by(*SEARCH_ORDER)


class ListRow(NamedTuple):
    """What the patient list shows of a patient (`list_rows`), read as plain values."""

    pk: int
    first_name: str
    last_name: str
    email: str
    phone: str
    date_of_birth: date
    takes_prescribed_nsaid: bool
    merged_into_id: int | None


LIST_FIELDS = ListRow._fields


def list_rows(query: str) -> Callable[[int, int], list[ListRow]]:
    """`read(start, stop)`: rows `start` to `stop` - 1 of search_patients(query) as
    ListRows (ui.pagination.window_of), for the patient list: a name search's page and the
    list of everyone by statements compiled once a process, a phone search by the ORM."""
    found = search_patients(query)
    if isinstance(found, NameSearch):
        return found.rows
    if not query.split() and connection.vendor == "postgresql":
        return lambda start, stop: list(map(ListRow._make, _everyone(start, stop).tuples()))
    return lambda start, stop: list(found.values_list(*LIST_FIELDS, named=True)[start:stop])


def _everyone(start: int, stop: int) -> PreparedValues:
    """A page of everyone, the list with no search (accounts.prepared.sliced)."""
    return sliced(_everyone_values, start, stop)


def _everyone_values():
    return search_patients("").values_list(*LIST_FIELDS)


# A name search's page reads each field's matches one value of the field at a time (see
# NameSearch) when the words' start is shared by at most this many values of it; beyond, it
# reads them all, as it did before.
SEARCH_VALUES_WALKED = 100


class NameSearch:
    """A name search, read a page at a time (the staff's patient list).

    The ORDER BY over the matches' rows had to read every match from the table and sort
    it: "santos" matches a twentieth of the bench's patients (50,000 heap rows, 165–267 ms
    at 1,000,000 patients). A slice instead picks the page's ids from the indexes alone,
    then reads those rows: the `driver` word (the longest that is not phone digits; every
    match matches it) splits the matches into one part per field of PREFIX_FIELDS, the
    start of its field and of no field before it, each read by an index-only scan of
    patient_<field>_search (which carries id and the names and email, so the other words
    are checked there too); their ids, LIMITed in name order, are the page's. Same matches,
    same order as `matching`, the one query that iterating it whole runs.

    Reading every index entry of a part still cost 50,000 entries for "santos" (85 ms).
    So a page ending at row k reads, from each part, only the first k of each value of its
    field that starts with the driver (UPPER(field) = one value, in name order: the keys
    of patient_last_name_search and patient_first_name_search go on with the lowered last
    and first names and the id, the page's order; the few emails that share a value are
    sorted), the values found one index descent each (a recursive CTE, a "loose index
    scan"). The page's k rows of a part are among these: any row of a value comes after
    that value's first k. Where more than SEARCH_VALUES_WALKED values share the start ("s"
    over 6,000 surnames), the walk stops there and the part is read whole, as before, in
    the same statement (PostgreSQL runs only the branch its one-time filter allows).

    The statements depend on the words only through their parameters: each is compiled
    once a process for each shape of search (_SearchStatement: how many words, which is
    the driver, which are phone digits), the words then put in their places.
    """

    def __init__(self, words: list[str], *, driver: str):
        self.words = words
        # `is`, as the parts are built: a word equal to the driver but another object
        # ("ana ana") is a filter of its own (the same rows, another statement).
        self._shape = tuple((word is driver, _phone_word(word)) for word in words)

    @cached_property
    def matching(self):
        return _matching(self.words)

    def __iter__(self):
        return iter(self.matching)

    def __getitem__(self, page: slice) -> list[Patient]:
        if not isinstance(page, slice) or page.step is not None:
            raise TypeError("NameSearch takes a slice [start:stop]")
        sql, params = self.ids(page.start or 0, page.stop)
        # The SQL is the ORM's, compiled from the words; they are in its parameters.
        ids = RawSQL(sql, params)  # noqa: S611
        return list(Patient.objects.filter(pk__in=ids).order_by(*SEARCH_ORDER))

    def ids(self, start: int, stop: int | None) -> tuple[str, list]:
        """The statement of the ids of rows `start` to `stop` - 1 (None: to the end), in
        the search's order, and its parameters."""
        statement = _statement(self._shape, SEARCH_VALUES_WALKED, stop is None, rows=False)
        return statement.sql, statement.parameters(self.words, start, stop)

    def rows(self, start: int, stop: int) -> list[ListRow]:
        """Rows `start` to `stop` - 1 as ListRows: `self[start:stop]`'s patients, read by
        one statement compiled once (the ORM's, tests/test_patient_search.py checks)."""
        statement = _statement(self._shape, SEARCH_VALUES_WALKED, False, rows=True)
        params = statement.parameters(self.words, start, stop)
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            return list(map(ListRow._make, cursor.fetchall()))


# Stand-ins for the numbers a search statement takes (below any id; no word is an int).
_ROWS, _LIMIT, _OFFSET = -1_734_022_301, -1_734_022_302, -1_734_022_303


def _marker(n: int, *, phone: bool) -> str:
    """The stand-in for the `n`th word in a statement compiled once: no character
    prep_for_like_query escapes, three digits if it stands for phone digits (_phone_word),
    else none, unlike any word typed (control characters around it)."""
    return f"\x1e{'000' if phone else ''}{'w' * (n + 1)}\x1f"


@dataclass(frozen=True)
class _SearchStatement:
    """A search's statement and where its parameters come from: each a constant, a word
    (`("word", n, before, after)`: the word's LIKE-escaped text between two constants), or
    one of the numbers (rows per value, LIMIT, OFFSET)."""

    sql: str
    recipe: tuple

    def parameters(self, words: list[str], start: int, stop: int | None) -> list:
        escaped = [connection.ops.prep_for_like_query(word) for word in words]
        numbers = {
            _ROWS: stop,
            _LIMIT: None if stop is None else max(0, stop - start),  # NULL: no limit
            _OFFSET: start,
        }
        return [
            numbers[item]
            if type(item) is int and item in numbers
            else f"{item[1]}{escaped[item[0]]}{item[2]}"
            if type(item) is tuple
            else item
            for item in self.recipe
        ]


@lru_cache(maxsize=256)
def _statement(shape: tuple, cap: int, whole: bool, *, rows: bool) -> _SearchStatement:
    """The statement of a shape of search: the ids of a page (`whole`: of every match), or
    (`rows`) the page's LIST_FIELDS, compiled with stand-ins for the words and numbers."""
    at = next(n for n, (is_driver, _) in enumerate(shape) if is_driver)
    driver = _marker(at, phone=False)
    words = [
        driver if is_driver else _marker(n, phone=phone)
        for n, (is_driver, phone) in enumerate(shape)
    ]
    sql, params = _ids_sql(words, driver, cap, whole)
    if rows:
        ids = RawSQL(sql, params)  # noqa: S611 - the ORM's SQL, its parameters
        query = Patient.objects.filter(pk__in=ids).order_by(*SEARCH_ORDER).values_list(*LIST_FIELDS)
        sql, orm_params = query.query.sql_with_params()
        params = list(orm_params)
    recipe = []
    for value in params:
        if type(value) is str and "\x1e" in value:
            before, rest = value.split("\x1e", 1)
            marker, after = rest.split("\x1f", 1)
            marker = f"\x1e{marker}\x1f"
            recipe.append((words.index(marker), before, after))
        else:
            recipe.append(value)
    return _SearchStatement(sql, tuple(recipe))


def _ids_sql(words: list[str], driver: str, cap: int, whole: bool) -> tuple[str, list]:
    """NameSearch's statement of a page's ids (`whole`: of every match), with _ROWS, _LIMIT
    and _OFFSET where those numbers go."""
    full, walked = [], []
    pattern = connection.ops.prep_for_like_query(driver) + "%"
    for i, field in enumerate(PREFIX_FIELDS):
        part = Patient.objects.filter(**{f"{field}__istartswith": driver})
        for before in PREFIX_FIELDS[:i]:
            part = part.exclude(**{f"{before}__istartswith": driver})
        for word in words:
            if word is not driver:
                part = part.filter(_word_matches(word))
        columns = ("id", Lower("last_name"), Lower("first_name"))
        full.append(part.order_by().values_list(*columns).query.sql_with_params())
        key = f'UPPER("{TABLE}"."{field}"::text)'  # as istartswith writes it
        values = f"values_{field}"
        group = (
            part.filter(RawSQL(f"{key} = {values}.value", (), output_field=BooleanField()))  # noqa: S611
            .order_by(Lower("last_name"), Lower("first_name"), "id")
            .values_list(*columns)
        )
        walked.append((key, values, pattern, group.query.sql_with_params()))
    if whole:
        ctes, union = "", " UNION ALL ".join(f"({sql})" for sql, _ in full)
        params = [p for _, part in full for p in part]
    else:
        ctes, union, params = _walk(walked, full, cap)
    sql = (
        f"{ctes}SELECT m.id FROM ({union}) AS m(id, last_lower, first_lower) "  # noqa: S608
        "ORDER BY m.last_lower, m.first_lower, m.id LIMIT %s OFFSET %s"
    )
    return sql, [*params, _LIMIT, _OFFSET]


def _walk(walked: list, full: list, cap: int) -> tuple[str, str, list]:
    """The WITH clause walking each part's values, the union of the parts' first _ROWS
    rows of each value (or the whole part, past `cap` values), their parameters."""
    ctes, cte_params, branches, branch_params = [], [], [], []
    for (key, values, pattern, group), whole in zip(walked, full, strict=True):
        # The first value of the field starting with the driver, then each next one
        # (the column names are the model's; the driver is a parameter).
        first = f"{key} LIKE UPPER(%s)"
        after = f"{key} LIKE UPPER(%s) AND {key} ~>~ {values}.value"
        order = f"ORDER BY {key} USING ~<~ LIMIT 1"
        ctes.append(
            f"{values}(value, n) AS ("  # noqa: S608
            f"(SELECT {key}, 1 FROM {TABLE} WHERE {first} {order}) UNION ALL "
            f"SELECT (SELECT {key} FROM {TABLE} WHERE {after} {order}), "
            f"{values}.n + 1 FROM {values} "
            f"WHERE {values}.value IS NOT NULL AND {values}.n <= {cap})"
        )
        cte_params += [pattern, pattern]
        past_cap = f"EXISTS (SELECT FROM {values} WHERE n > {cap} AND value IS NOT NULL)"
        branches.append(
            f"(SELECT firsts.* FROM {values} "  # noqa: S608 - the ORM's SQL, parameters
            f"CROSS JOIN LATERAL ({group[0]} LIMIT %s) AS firsts "
            f"WHERE {values}.value IS NOT NULL AND NOT {past_cap}) UNION ALL "
            f"(SELECT * FROM ({whole[0]}) AS whole WHERE {past_cap})"
        )
        branch_params += [*group[1], _ROWS, *whole[1]]
    with_clause = "WITH RECURSIVE " + ", ".join(ctes) + " "
    return with_clause, " UNION ALL ".join(branches), cte_params + branch_params


def phones_to_fix():
    """Patients whose phone, typed before numbers were checked, is not a valid number in
    their country: kept as typed, with no E.164 copy (so no SMS, no search by number)."""
    return (
        Patient.objects.filter(phone_e164="", merged_into__isnull=True)
        .exclude(phone="")
        .order_by(Lower("last_name"), Lower("first_name"), "id")
    )


# The patient page shows the latest changes to the record; older ones stay in the database.
CHANGES_SHOWN = 50


def _changes(patient_id):
    return (
        PatientChange.objects.filter(patient_id=patient_id)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")[:CHANGES_SHOWN]
    )


# Read on every patient page: compiled once a process (accounts.prepared).
_CHANGES = PreparedGet(_changes)
_PATIENT = by_id(Patient)


def patient_by_id(pk: int) -> Patient | None:
    """The patient with this id (merged records too), or None: as `Patient.objects.filter(
    pk=pk).first()`, by a statement compiled once."""
    return _PATIENT.get(pk)


def patient_changes(patient: Patient) -> list[PatientChange]:
    """The latest changes to a patient's record, newest first, with who made them."""
    return _CHANGES.all(patient.pk)


# The medical information on the patient page, and the fields each line shows.
MEDICAL_LINES = {
    "medications": ("medications",),
    "prescribed_nsaid": ("takes_prescribed_nsaid", "prescribed_nsaid"),
    "allergies": ("allergies",),
    "notes": ("notes",),
}


def medical_changes(changes: list[PatientChange]) -> dict[str, PatientChange]:
    """{line of MEDICAL_LINES: the latest change of it} among `changes` (newest first, as
    patient_changes gives them): the patient page's "amended by X on D" next to each,
    without another query."""
    latest: dict[str, PatientChange] = {}
    for change in changes:
        for line, fields in MEDICAL_LINES.items():
            if line not in latest and any(name in change.changes for name in fields):
                latest[line] = change
    return latest


def possible_duplicates(
    *, first_name: str, last_name: str, date_of_birth, exclude_pk: int | None = None
) -> list[Patient]:
    """Records (not merged away) with the same name, any case, and date of birth: most
    likely the same person. Served by patient_duplicate_check_idx."""
    if not (first_name and last_name and date_of_birth):
        return []
    same = Patient.objects.annotate(
        first_lower=Lower("first_name"), last_lower=Lower("last_name")
    ).filter(
        last_lower=last_name.strip().lower(),
        first_lower=first_name.strip().lower(),
        date_of_birth=date_of_birth,
        merged_into__isnull=True,
    )
    if exclude_pk is not None:
        same = same.exclude(pk=exclude_pk)
    return list(same.order_by("id")[:10])
