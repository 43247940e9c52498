"""Form parts both page apps use: a day inside the clinic's range, the page number, and
putting a service's coded refusal next to the field it concerns."""

from collections.abc import Callable, Mapping
from datetime import date
from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from patients.validators import EARLIEST_DAY, LATEST_DAY

# A page number beyond this is served as this page (empty, with a "previous" link): the
# OFFSET stays far inside PostgreSQL's bigint whatever number is asked for.
MAX_PAGE = 10_000


class FastSelect(forms.Select):
    """Django's Select with the same markup, its options written in Python: the stock
    widget renders a template and includes another for every option (about 60 µs each; the
    review's clinician filter has one option per clinician, 200 at 1,000,000 patients)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = []
        for group_name, group, _index in widget["optgroups"]:
            parts = [
                f'<option value="{escape(str(option["value"]))}"'
                f"{flatatt(option['attrs']) if option['attrs'] else ''}>"
                f"{conditional_escape(option['label'])}</option>"
                for option in group
            ]
            if group_name:
                parts = [
                    format_html('<optgroup label="{}">', group_name),
                    *parts,
                    mark_safe("</optgroup>"),  # noqa: S308 - a constant
                ]
            options.extend(parts)
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"],
            flatatt(widget["attrs"]),
            mark_safe("\n".join(options)),  # noqa: S308 - each part escaped above
        )


def day_range_validators(*, earliest: date = EARLIEST_DAY, latest: date = LATEST_DAY):
    return [
        MinValueValidator(
            earliest,
            format_lazy(
                pgettext_lazy("staff", "Enter a day from {day} on."), day=f"{earliest:%d %B %Y}"
            ),
        ),
        MaxValueValidator(
            latest,
            format_lazy(
                pgettext_lazy("staff", "Enter a day up to {day}."), day=f"{latest:%d %B %Y}"
            ),
        ),
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


class PhotoCompareForm(forms.Form):
    """`?view=&before=&after=` of the before/after comparison (staff and portal).

    The visits offered are the ones the page already loaded (the caller's list: for a
    patient only their shared visits), so an id of another patient's visit is simply not a
    choice. Whatever does not parse falls back: the first view, the first visit (day 0 when
    a baseline was recorded) and the latest one.
    """

    view = forms.ChoiceField(required=False, label=_("View"))
    before = forms.ChoiceField(required=False, label=_("Before"))
    after = forms.ChoiceField(required=False, label=_("After"))

    def __init__(self, *args, visits, views, **kwargs):
        super().__init__(*args, **kwargs)
        self.visits = {str(v.follow_up.pk): v for v in visits}
        self.views = list(views)
        visit_choices = [(key, v.label) for key, v in self.visits.items()]
        for name, choices in (
            ("view", self.views),
            ("before", visit_choices),
            ("after", visit_choices),
        ):
            cast(forms.ChoiceField, self.fields[name]).choices = choices
        for f in self.fields.values():
            f.widget.attrs["class"] = "form-select"

    def shown(self) -> "PhotoCompareForm":
        """The form as the page shows it: bound to what is compared (after any fallback)."""
        view, _, before, after = self.chosen()
        data = {"view": view}
        if before and after:
            data.update(before=str(before.follow_up.pk), after=str(after.follow_up.pk))
        return PhotoCompareForm(data, visits=self.visits.values(), views=self.views)

    def chosen(self):
        """(view, its label, the before visit, the after visit); visits None when none."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        keys = list(self.visits)
        view = data.get("view") or self.views[0][0]
        before = data.get("before") or (keys[0] if keys else None)
        after = data.get("after") or (keys[-1] if keys else None)
        return (
            view,
            dict(self.views)[view],
            self.visits.get(before) if before else None,
            self.visits.get(after) if after else None,
        )


def compare_context(form: PhotoCompareForm, view, view_label, before, after) -> dict:
    """What templates/_photo_compare.html needs (the staff and the portal page alike)."""
    return {
        "form": form.shown(),
        "form_errors": form.is_bound and bool(form.errors),
        "view_label": view_label,
        "before": before,
        "after": after,
        "pair": [
            (side, visit, visit.by_view.get(view))
            for side, visit in (("before", before), ("after", after))
            if visit is not None
        ],
    }
