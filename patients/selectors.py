from django.db.models import CharField, Q, Value
from django.db.models.functions import Concat, Lower, Reverse

from .models import Patient, PatientChange
from .phones import search_digits

# By name, case-insensitive; `|| ''` keeps the order off the name indexes (search_patients).
SEARCH_ORDER = (
    Concat(Lower("last_name"), Value(""), output_field=CharField()),
    Concat(Lower("first_name"), Value(""), output_field=CharField()),
    "id",
)


def search_patients(query: str):
    """Patients matching every word of `query`: a word matches the start of the first name,
    last name or email, or (digits) any part of the phone as typed. A query that is a phone
    number ("+49 170 555 0101", "0170 5550101", "5550101") finds the patients whose number
    ends with its digits, whatever shape either was typed in. Ordered by name.

    Prefix matches use the patient_*_prefix indexes, and the matches are sorted. The sort
    key is LOWER(name) || '', which no index holds: with LOWER(name) alone PostgreSQL walked
    patient_duplicate_check_idx in name order filtering every row until it had a page
    ("santos": 81,000 rows read, 517 ms at 100,000 patients, 44 ms with the sort).
    """
    words = query.split()
    if not words:
        return Patient.objects.order_by("last_name", "first_name", "id")
    patients = Patient.objects.all()
    digits = search_digits(query)
    if digits is not None:
        # A phone number in any shape: its digits are the end of the stored E.164 copy
        # ("+" and the country code included when the query has its country code).
        # REVERSE(phone_e164) LIKE '1010555%' is served by patient_phone_e164_suffix.
        return (
            patients.alias(phone_reversed=Reverse("phone_e164"))
            .filter(phone_reversed__startswith=digits[::-1])
            .order_by(*SEARCH_ORDER)
        )
    for word in words:
        match = (
            Q(last_name__istartswith=word)
            | Q(first_name__istartswith=word)
            | Q(email__istartswith=word)
        )
        digits = "".join(ch for ch in word if ch.isdigit())
        if len(digits) >= 3:
            match |= Q(phone__icontains=word)
        patients = patients.filter(match)
    return patients.order_by(*SEARCH_ORDER)


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
