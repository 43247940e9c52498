"""Input rules shared by every app: the range of dates the clinic accepts, page numbers, and
characters a name may not hold.

Why a range: Python's dates end at 9999-12-31 and start at 0001-01-01, so a week view, a
follow-up twelve months on or a day before a session overflows near either end (an HTTP 500
in the security review, issue 9). Every day the clinic reads from a person lies inside
EARLIEST_DAY..LATEST_DAY, which leaves centuries of room for that arithmetic.
"""

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)

# A page number beyond this is served as this page (empty, with a "previous" link): the
# OFFSET stays far inside PostgreSQL's bigint whatever number is asked for.
MAX_PAGE = 10_000

# Bidirectional embedding/override (U+202A–U+202E) and isolate (U+2066–U+2069) controls
# make a name display as something else than what it is ("Trojan Source" style spoofing).
BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def validate_no_bidi_controls(value: str) -> None:
    if any(ch in BIDI_CONTROLS for ch in value or ""):
        raise ValidationError(
            "Remove the invisible text-direction characters (U+202A–U+202E, U+2066–U+2069).",
            code="bidi_control",
        )


def day_range_validators(*, earliest: date = EARLIEST_DAY, latest: date = LATEST_DAY):
    return [
        MinValueValidator(earliest, f"Enter a day from {earliest:%d %B %Y} on."),
        MaxValueValidator(latest, f"Enter a day up to {latest:%d %B %Y}."),
    ]


class DayField(forms.DateField):
    """A date inside the clinic's range (see the module docstring)."""

    default_validators = day_range_validators()


class PageForm(forms.Form):
    """`?page=`: a positive whole number; anything else is page 1, a huge one MAX_PAGE."""

    page = forms.IntegerField(required=False, min_value=1)

    def number(self) -> int:
        if not self.is_valid():
            return 1
        return min(self.cleaned_data["page"] or 1, MAX_PAGE)


def page_number(query) -> int:
    """The page asked for in a query dict (request.GET)."""
    return PageForm(query).number()
