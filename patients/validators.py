"""Input rules on what a person types, shared by the domain and the pages: the range of
dates the clinic accepts, and characters a name may not hold.

Why a range: Python's dates end at 9999-12-31 and start at 0001-01-01, so a week view, a
follow-up twelve months on or a day before a session overflows near either end (an HTTP 500
in the security review, issue 9). Every day the clinic reads from a person lies inside
EARLIEST_DAY..LATEST_DAY, which leaves centuries of room for that arithmetic.

They live here, in the lowest domain app that needs them (the patient's name and birth date;
treatments, which may import patients, refuses a session after LATEST_DAY), so that no domain
code imports the pages or the project package.
"""

from datetime import date

from django.core.exceptions import ValidationError

EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)

# Bidirectional embedding/override (U+202A–U+202E) and isolate (U+2066–U+2069) controls
# make a name display as something else than what it is ("Trojan Source" style spoofing).
BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def validate_no_bidi_controls(value: str) -> None:
    if any(ch in BIDI_CONTROLS for ch in value or ""):
        raise ValidationError(
            "Remove the invisible text-direction characters (U+202A–U+202E, U+2066–U+2069).",
            code="bidi_control",
        )
