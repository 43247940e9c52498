from django.db import connection
from django.db.models import BooleanField, CharField, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower, Reverse

from accounts.prepared import PreparedGet, by_id

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
    matching = Patient.objects.all()
    for word in words:
        matching = matching.filter(_word_matches(word))
    matching = matching.order_by(*SEARCH_ORDER)
    name_words = [word for word in words if not _phone_word(word)]
    if connection.vendor != "postgresql" or not name_words:
        return matching
    return NameSearch(matching, words, driver=max(name_words, key=len))


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
    """

    def __init__(self, matching, words: list[str], *, driver: str):
        self.matching = matching
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
        self._full = full
        self._walked = walked

    def __iter__(self):
        return iter(self.matching)

    def __getitem__(self, page: slice) -> list[Patient]:
        if not isinstance(page, slice) or page.step is not None:
            raise TypeError("NameSearch takes a slice [start:stop]")
        start = page.start or 0
        limit = None if page.stop is None else max(0, page.stop - start)  # NULL: no limit
        if page.stop is None:
            ctes, union = "", " UNION ALL ".join(f"({sql})" for sql, _ in self._full)
            params = [p for _, part in self._full for p in part]
        else:
            ctes, union, params = self._walk(page.stop)
        # The SQL is the ORM's, compiled from the words; they are in its parameters.
        ids = RawSQL(  # noqa: S611
            f"{ctes}SELECT m.id FROM ({union}) AS m(id, last_lower, first_lower) "  # noqa: S608
            "ORDER BY m.last_lower, m.first_lower, m.id LIMIT %s OFFSET %s",
            (*params, limit, start),
        )
        return list(Patient.objects.filter(pk__in=ids).order_by(*SEARCH_ORDER))

    def _walk(self, rows: int) -> tuple[str, str, list]:
        """The WITH clause walking each part's values, the union of the parts' first `rows`
        of each value (or the whole part, past SEARCH_VALUES_WALKED values), their
        parameters."""
        ctes, cte_params, branches, branch_params = [], [], [], []
        cap = SEARCH_VALUES_WALKED
        for (key, values, pattern, group), whole in zip(self._walked, self._full, strict=True):
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
            branch_params += [*group[1], rows, *whole[1]]
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
