"""Phone numbers: parsed with `phonenumbers` (through django-phonenumber-field) in the
patient's country, stored in E.164, searched by their end.

Staff type numbers in any shape ("+49 170 555 0101", "0170 5550101"); the patient record
keeps what was typed, for display, and an E.164 copy (+491705550101) read in the patient's
country (`Patient.country`, default settings.CLINIC_COUNTRY) when the number has no country
code. A number that is not a valid number is refused on entry (`Patient.clean`); one typed
before that rule existed stays as typed with no E.164 copy and is listed for staff to fix
(`patients.selectors.phones_to_fix`, `manage.py phones_to_fix`, the page "Phone numbers to
fix"). Searching compares the digits of the query with the end of that copy, so a full
number in either shape and the local part alone ("5550101") all find the patient; a number
typed with its country code ("+44 …", "0044 …") matches that country only.
"""

import re

import phonenumbers
from django.conf import settings
from phonenumber_field.phonenumber import PhoneNumber

# A query that is a phone number and nothing else: digits and the usual separators.
PHONE_QUERY = re.compile(r"^\+?[0-9 ()\-./]+$")
# Fewer digits than this are not searched as the end of a number (too many would match).
MIN_SUFFIX_DIGITS = 5


def parse(raw: str, *, region: str | None = None) -> PhoneNumber | None:
    """The valid phone number `raw` means in `region`, or None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        number = PhoneNumber.from_string(raw, region=region or settings.CLINIC_COUNTRY)
    except phonenumbers.NumberParseException:
        return None
    return number if number.is_valid() else None


def to_e164(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of `raw` read in `region`, or "" when it is not a valid number."""
    number = parse(raw, region=region)
    return number.as_e164 if number is not None else ""


def country_choices() -> list[tuple[str, str]]:
    """Every region phonenumbers knows, as (code, "DE (+49)")."""
    return [
        (code, f"{code} (+{phonenumbers.country_code_for_region(code)})")
        for code in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


def migrate_phone_numbers(patient_model, *, batch: int = 1000) -> list[int]:
    """Fill every patient's E.164 copy from the phone as typed and the patient's country.

    Used by the data migration (with the historical model) and safe to run again. A number
    that does not parse is KEPT as typed (its copy is left empty) and its patient's id is
    returned, for the list staff fix by hand; nothing is dropped.
    """
    unparseable: list[int] = []
    rows = []
    for patient in (
        patient_model.objects.exclude(phone="").only("pk", "phone", "country").iterator(batch)
    ):
        patient.phone_e164 = to_e164(patient.phone, region=patient.country or None)
        if not patient.phone_e164:
            unparseable.append(patient.pk)
        rows.append(patient)
        if len(rows) >= batch:
            patient_model.objects.bulk_update(rows, ["phone_e164"])
            rows = []
    if rows:
        patient_model.objects.bulk_update(rows, ["phone_e164"])
    return unparseable


def search_digits(query: str) -> str | None:
    """What a stored E.164 number must end with for `query` to find it, or None when the
    query is not a phone number.

    A query with its country code ("+44 20 …", "0044 20 …") must match the whole number,
    country included: "+" and its digits. Otherwise leading zeros are dropped (the trunk
    prefix of a national number, "0170 …") and what is left is a suffix of the E.164 number
    the query means, in whichever country.
    """
    query = query.strip()
    if not PHONE_QUERY.match(query):
        return None
    digits = "".join(ch for ch in query if ch.isdigit())
    international = query.startswith("+") or digits.startswith("00")
    digits = digits.lstrip("0")
    if len(digits) < MIN_SUFFIX_DIGITS:
        return None
    return "+" + digits if international else digits
