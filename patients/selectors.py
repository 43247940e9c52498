from django.db import connection
from django.db.models import CharField, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower, Reverse

from .models import Patient, PatientChange
from .phones import search_digits

# By name, case-insensitive; `|| ''` keeps the order off the name indexes (search_patients).
SEARCH_ORDER = (
    Concat(Lower("last_name"), Value(""), output_field=CharField()),
    Concat(Lower("first_name"), Value(""), output_field=CharField()),
    "id",
)
# The fields a word matches the start of; each has its patient_<field>_search index.
PREFIX_FIELDS = ("last_name", "first_name", "email")


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
    same order as `matching`, the one query that iterating it whole runs."""

    def __init__(self, matching, words: list[str], *, driver: str):
        self.matching = matching
        parts = []
        for i, field in enumerate(PREFIX_FIELDS):
            part = Patient.objects.filter(**{f"{field}__istartswith": driver})
            for before in PREFIX_FIELDS[:i]:
                part = part.exclude(**{f"{before}__istartswith": driver})
            for word in words:
                if word is not driver:
                    part = part.filter(_word_matches(word))
            sql, params = (
                part.order_by()
                .values_list("id", Lower("last_name"), Lower("first_name"))
                .query.sql_with_params()
            )
            parts.append((sql, params))
        self._union = " UNION ALL ".join(f"({sql})" for sql, _ in parts)
        self._params = tuple(p for _, params in parts for p in params)

    def __iter__(self):
        return iter(self.matching)

    def __getitem__(self, page: slice) -> list[Patient]:
        if not isinstance(page, slice) or page.step is not None:
            raise TypeError("NameSearch takes a slice [start:stop]")
        start = page.start or 0
        limit = None if page.stop is None else max(0, page.stop - start)  # NULL: no limit
        # The union is SQL the ORM compiled from the words; they are in its parameters.
        ids = RawSQL(  # noqa: S611
            f"SELECT m.id FROM ({self._union}) AS m(id, last_lower, first_lower) "  # noqa: S608
            "ORDER BY m.last_lower, m.first_lower, m.id LIMIT %s OFFSET %s",
            (*self._params, limit, start),
        )
        return list(Patient.objects.filter(pk__in=ids).order_by(*SEARCH_ORDER))


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


def patient_changes(patient: Patient) -> list[PatientChange]:
    """The latest changes to a patient's record, newest first, with who made them."""
    return list(
        PatientChange.objects.filter(patient=patient)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")[:CHANGES_SHOWN]
    )


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
