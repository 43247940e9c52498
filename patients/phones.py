"""Phone numbers as staff type them, and the E.164 copy the clinic searches by.

Staff type numbers in any shape ("+49 170 555 0101", "0170 5550101"); the patient record
keeps what was typed, for display, and an E.164 copy (+491705550101) read with the clinic's
region (settings.CLINIC_PHONE_REGION) for a number without a country code. Searching compares
the digits of the query with the end of that copy, so a full number in either shape and the
local part alone ("5550101") all find the patient.
"""

import re

import phonenumbers
from django.conf import settings

# A query that is a phone number and nothing else: digits and the usual separators.
PHONE_QUERY = re.compile(r"^\+?[0-9 ()\-./]+$")
# Fewer digits than this are not searched as the end of a number (too many would match).
MIN_SUFFIX_DIGITS = 5


def to_e164(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of `raw`, or "" when it cannot be a phone number (kept as typed)."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region or settings.CLINIC_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def search_digits(query: str) -> str | None:
    """The digits a stored E.164 number must end with for `query` to find it, or None when
    the query is not a phone number.

    Leading zeros are dropped: they are the trunk prefix of a national number ("0170 ...")
    or the international prefix ("0049 ..."), neither of which is part of the E.164 digits
    that follow. What is left is always a suffix of the E.164 number the query means.
    """
    query = query.strip()
    if not PHONE_QUERY.match(query):
        return None
    digits = "".join(ch for ch in query if ch.isdigit()).lstrip("0")
    if len(digits) < MIN_SUFFIX_DIGITS:
        return None
    return digits
