"""Form parts both page apps use: a day inside the clinic's range, the page number, and
putting a service's coded refusal next to the field it concerns."""

from collections.abc import Callable, Mapping
from datetime import date
from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from patients.validators import EARLIEST_DAY, LATEST_DAY

# A page number beyond this is served as this page (empty, with a "previous" link): the
# OFFSET stays far inside PostgreSQL's bigint whatever number is asked for.
MAX_PAGE = 10_000


class FastSelect(forms.Select):
    """Django's Select with the same markup, its options written in Python straight from
    its choices: the stock widget renders a template and includes another for every option
    (about 60 µs each; the review's clinician filter has one option per clinician, 200 at
    1,000,000 patients), and builds a dict of attributes for each first. As Django's, only
    the first option whose value matches is selected (unless the select is multiple)."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        multiple = self.allow_multiple_selected
        if multiple:
            attrs["multiple"] = True
        chosen = set(self.format_value(value))
        options: list[str] = []
        has_selected = False
        for group_value, group_label in self.choices:
            if isinstance(group_label, list | tuple):
                group, members = group_value, group_label
            else:
                group, members = None, [(group_value, group_label)]
            parts = []
            for option_value, label in members:
                text = "" if option_value is None else str(option_value)
                selected = (multiple or not has_selected) and text in chosen
                has_selected |= selected
                parts.append(
                    f'<option value="{escape(text)}"{" selected" if selected else ""}>'
                    f"{conditional_escape(label)}</option>"
                )
            if group:
                parts = [format_html('<optgroup label="{}">', group), *parts, "</optgroup>"]
            options.extend(parts)
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            flatatt(attrs),
            mark_safe("\n".join(options)),  # noqa: S308 - each part escaped above
        )


class _ValuesChoiceIterator(ModelChoiceIterator):
    def __iter__(self):
        field = cast("ValuesChoiceField", self.field)
        if field.empty_label is not None:
            yield ("", field.empty_label)
        for pk, *values in self.queryset.values_list("pk", *field.option_fields):
            yield (pk, field.option_label(*values))


class ValuesChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose options are read as plain values, not model instances (200
    clinicians and 200 rooms at 1,000,000 patients: about 3 ms each as instances): the
    queryset's `option_fields` through `values_list`, each option labelled by
    `option_label(*values)`. What is chosen is still cleaned into the model instance."""

    iterator = _ValuesChoiceIterator
    widget = FastSelect

    def __init__(
        self, *args, option_fields: tuple[str, ...], option_label: Callable[..., str], **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.option_fields = option_fields
        self.option_label = option_label


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


# --- A form as crispy-forms' Bootstrap 5 markup, written in Python --------------------------
#
# `{{ form|crispy }}` renders a template per field (and includes per field, per error and
# per help text): about 0.5 ms a field. `bootstrap_form` writes the same markup (the same
# classes, labels, help texts, error blocks and ids; Django's widgets and their aria-invalid
# and aria-describedby, as crispy lets them) for the widgets the staff forms use; a widget it
# does not know (radio, multiple checkboxes, file) is left to crispy.


def _widget_css(widget: forms.Widget, bootstrap: str) -> str:
    """The widget's class as crispy writes it: its own class, else its type's name in lower
    case (`dateinput`, `fastselect`), then Bootstrap's classes."""
    kind = type(widget).__name__.lower()
    css = widget.attrs.get("class", "")
    css = (css if kind in css else f"{css} {kind}") if css else kind
    return f"{css} {bootstrap}"


def _help_and_errors(field: forms.BoundField) -> str:
    parts: list[str] = []
    if field.errors:
        parts.append(format_html('<div id="{}_error" class="invalid-feedback">', field.auto_id))
        parts.extend(
            format_html('<p id="error_{}_{}"><strong>{}</strong></p>', n, field.auto_id, error)
            for n, error in enumerate(field.errors, 1)
        )
        parts.append("</div>")
    if field.help_text:
        helptext_id = format_html('id="{}_helptext" ', field.auto_id) if field.auto_id else ""
        parts.append(f'<div {helptext_id}class="form-text">{field.help_text}</div>')
    return "".join(parts)


def _is_crispy_only(widget: forms.Widget) -> bool:
    return isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple | forms.FileInput)


def bootstrap_field(field: forms.BoundField) -> str:
    """One field as `{{ field|as_crispy_field }}` writes it (bootstrap5/field.html)."""
    widget = field.field.widget
    if field.is_hidden:
        return str(field)
    if _is_crispy_only(widget) or field.use_fieldset:
        from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field

        return as_crispy_field(field)
    invalid = " is-invalid" if field.errors else ""
    extra = f" {escape(css)}" if (css := field.css_classes()) else ""
    auto_id, id_for_label = escape(field.auto_id), escape(field.id_for_label)
    required = " requiredField" if field.field.required else ""
    label: str = conditional_escape(field.label)
    if field.field.required:
        label = f'{label}<span class="asteriskField">*</span>'
    if isinstance(widget, forms.CheckboxInput):
        control = field.as_widget(
            attrs={"class": _widget_css(widget, "form-check-input" + invalid)}
        )
        return (
            f'<div class="mb-3"><div id="div_{auto_id}" class="form-check{extra}">'
            f"{control}"
            f'<label for="{id_for_label}" class="form-check-label{required}">{label}</label>'
            f"{_help_and_errors(field)}</div></div>"
        )
    bootstrap = "form-select" if isinstance(widget, forms.Select) else "form-control"
    control = field.as_widget(attrs={"class": _widget_css(widget, bootstrap + invalid)})
    label_html = ""
    if field.label:
        label_for = f' for="{id_for_label}"' if id_for_label else ""
        label_html = f'<label{label_for} class="form-label{required}">{label}</label>'
    return (
        f'<div id="div_{auto_id}" class="mb-3{extra}">{label_html}{control}'
        f"{_help_and_errors(field)}</div>"
    )


def bootstrap_form(form: forms.BaseForm) -> SafeString:
    """A whole form as `{{ form|crispy }}` writes it: the errors above it, then each field
    in order (hidden ones as their input alone)."""
    parts = []
    if errors := form.non_field_errors():
        items = "".join(format_html("<li>{}</li>", error) for error in errors)
        parts.append(
            f'<div class="alert alert-block alert-danger"><ul class="m-0">{items}</ul></div>'
        )
    parts.extend(bootstrap_field(field) for field in form)
    return mark_safe("".join(parts))  # noqa: S308 - every part escaped above
