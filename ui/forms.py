"""Form parts both page apps use: a day inside the clinic's range, the page number, and
putting a service's coded refusal next to the field it concerns."""

from collections.abc import Callable, Mapping
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
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


# Where a refusal goes: a field's name, None (above the form), or a function of the error
# for a code whose field depends on it (e.g. "slot_taken": the clinician or the room).
FieldFor = str | None | Callable[[ValidationError], str | None]


def add_service_error(
    form: forms.BaseForm, exc: ValidationError, *, field_for_code: Mapping[str, FieldFor]
) -> None:
    """Put a service's refusal on the form, next to the field it concerns; the form keeps
    what the user typed.

    Services refuse with coded ValidationErrors and know nothing of forms, so each page app
    says where its codes go (`field_for_code`). A refusal by field (a model's full_clean)
    goes to the field of that name; a code the map does not name, or a field the form does
    not have, goes above the form.
    """
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return
    for error in exc.error_list:
        field = field_for_code.get(error.code or "")
        if callable(field):
            field = field(error)
        form.add_error(field if field in form.fields else None, error)
