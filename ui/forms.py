"""Form parts both page apps use: a day inside the clinic's range and the page number."""

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from patients.validators import EARLIEST_DAY, LATEST_DAY

# A page number beyond this is served as this page (empty, with a "previous" link): the
# OFFSET stays far inside PostgreSQL's bigint whatever number is asked for.
MAX_PAGE = 10_000


def day_range_validators(*, earliest: date = EARLIEST_DAY, latest: date = LATEST_DAY):
    return [
        MinValueValidator(earliest, f"Enter a day from {earliest:%d %B %Y} on."),
        MaxValueValidator(latest, f"Enter a day up to {latest:%d %B %Y}."),
    ]


class DayField(forms.DateField):
    """A date inside the clinic's range (see patients.validators)."""

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
