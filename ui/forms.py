"""Form parts both page apps use: a day inside the clinic's range, the page number, and
putting a service's coded refusal next to the field it concerns."""

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, cast

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field, optgroups
from crispy_forms.templatetags.crispy_forms_utils import remove_spaces
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import JSONArray
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import DjangoTemplates
from django.template.defaultfilters import unordered_list
from django.templatetags.l10n import unlocalize
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import format_lazy
from django.utils.timezone import template_localtime  # type: ignore[attr-defined] # not in the stubs
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.prepared import PreparedGet, PreparedValues, json_rows
from patients.validators import EARLIEST_DAY, LATEST_DAY

from .rows import HTML_ESCAPES, escaped

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
        made_of = getattr(self.choices, "made_of", None)
        key = made_of() if made_of is not None else None
        options = None
        if key is not None:  # options read as values: written once for the same values
            try:
                options = _options_of(key, frozenset(chosen), multiple, get_language())
            except TypeError:  # a value that cannot be a key (a list): written each time
                pass
        if options is None:
            options = _options(self.choices, chosen, multiple)
        # Each part escaped: the name here, the attributes by _flatatt, the options by _options.
        return mark_safe(f'<select name="{escaped(name)}"{_flatatt(attrs)}>{options}</select>')  # noqa: S308


def _options(choices, chosen: set[str], multiple: bool) -> str:
    """The <option>s (and <optgroup>s) of `choices`, one a line, `chosen` selected."""
    options: list[str] = []
    has_selected = False
    for group_value, group_label in choices:
        if isinstance(group_label, list | tuple):
            group, members = group_value, group_label
        else:
            group, members = None, [(group_value, group_label)]
        parts = []
        for option_value, label in members:
            text = "" if option_value is None else str(option_value)
            selected = (multiple or not has_selected) and text in chosen
            has_selected |= selected
            quoted = text.translate(HTML_ESCAPES)  # html.escape's, in one call
            mark = " selected" if selected else ""
            parts.append(f'<option value="{quoted}"{mark}>{escaped(label)}</option>')
        if group:
            parts = [format_html('<optgroup label="{}">', group), *parts, "</optgroup>"]
        options.extend(parts)
    return "\n".join(options)


@lru_cache(maxsize=64)
def _options_of(key: tuple, chosen: frozenset[str], multiple: bool, language: str | None) -> str:
    """_options of a ValuesChoiceField's choices from what they are made of (`key`, from
    _ValuesChoiceIterator.made_of): the same rows, labels and choice write the same options,
    so a page of 200 clinicians and 200 rooms writes them once a process, not each request
    (in each language, should a label be translated)."""
    (_, empty), rows, option_label = key
    choices = [] if empty is None else [("", empty)]
    choices += [(pk, option_label(*values)) for pk, *values in rows]
    return _options(choices, set(chosen), multiple)


def _flatatt(attrs: Mapping[str, Any]) -> SafeString:
    """Django's flatatt: the attributes with a value, then the true ones bare, each group by
    name, escaped by ui.rows.escaped (flatatt calls format_html for each)."""
    valued = sorted(
        (name, value)
        for name, value in attrs.items()
        if not isinstance(value, bool) and value is not None
    )
    bare = sorted(name for name, value in attrs.items() if value is True)
    return SafeString(
        "".join(f' {escaped(name)}="{escaped(value)}"' for name, value in valued)
        + "".join(f" {escaped(name)}" for name in bare)
    )


class _ValuesChoiceIterator(ModelChoiceIterator):
    def made_of(self) -> tuple | None:
        """What the choices are made of, hashable: the empty label (its type: safe or not),
        the rows read (by the statement compiled once), the labelling function; None when
        the options are read by the ORM."""
        field = cast("ValuesChoiceField", self.field)
        if field.options is None:
            return None
        empty = None if field.empty_label is None else str(field.empty_label)
        # The rows read_options read with the form's other options, else the field's read.
        read = field.option_rows if field.option_rows is not None else field.options.tuples()
        rows = tuple(map(tuple, read))
        return (type(empty), empty), rows, field.option_label

    def __iter__(self):
        field = cast("ValuesChoiceField", self.field)
        if field.empty_label is not None:
            yield ("", field.empty_label)
        rows: Iterable[Any]
        if field.option_rows is not None:
            rows = field.option_rows
        elif field.options is not None:
            rows = field.options.tuples()
        else:
            rows = self.queryset.values_list("pk", *field.option_fields)
        for pk, *values in rows:
            yield (pk, field.option_label(*values))


class ValuesChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose options are read as plain values, not model instances (200
    clinicians and 200 rooms at 1,000,000 patients: about 3 ms each as instances): the
    queryset's `option_fields` through `values_list`, each option labelled by
    `option_label(*values)`. What is chosen is still cleaned into the model instance.

    `source` (instead of a queryset): the function that makes the queryset; its options are
    then read by a statement compiled once a process (accounts.prepared), not built by the
    ORM for every form shown. A queryset set on the field later is read as it is."""

    iterator = _ValuesChoiceIterator
    widget = FastSelect

    def __init__(
        self,
        queryset=None,
        *,
        option_fields: tuple[str, ...],
        option_label: Callable[..., str],
        source: Callable[[], QuerySet] | None = None,
        **kwargs,
    ):
        super().__init__(source() if source is not None else queryset, **kwargs)
        self.option_fields = option_fields
        self.option_label = option_label
        self.options: PreparedValues | None = None
        self._chosen: PreparedGet | None = None
        self._json_options: PreparedValues | None = None
        # This form's options when read_options read them (rows as `options` gives them).
        self.option_rows: list | None = None
        if source is not None:
            self.options = PreparedValues(lambda: source().values("pk", *option_fields))
            self._chosen = PreparedGet(lambda pk: source().filter(pk=pk))
            self._json_options = PreparedValues(lambda: _json_options(source(), option_fields))

    # (ModelChoiceField's queryset property and __deepcopy__, which django-stubs omit.)
    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)  # type: ignore[misc]
        # Another queryset: its own options and rows.
        self.options = self._chosen = self._json_options = None
        self.option_rows = None

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)  # type: ignore[attr-defined]

    def to_python(self, value):
        """ModelChoiceField's: the chosen instance (with the source's select_related), else
        "invalid_choice"; with the source's options, read by a statement compiled once."""
        if self.options is None or self._chosen is None or self.to_field_name:
            return super().to_python(value)
        if value in self.empty_values:
            return None
        self.validate_no_null_characters(value)
        model = self.queryset.model
        if isinstance(value, model):
            value = value.pk
        try:
            key = model._meta.pk.to_python(value)
        except (ValueError, TypeError, ValidationError):
            key = None
        # An id beyond bigint's range is no row (the ORM does not ask either).
        found = self._chosen.get(key) if isinstance(key, int) and -(2**63) <= key < 2**63 else None
        if found is None:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return found

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)  # type: ignore[misc] # the queryset copied (.all()): the same options
        result.options, result._chosen = self.options, self._chosen
        result._json_options, result.option_rows = self._json_options, None
        return result


def _json_options(queryset: QuerySet, option_fields: tuple[str, ...]) -> QuerySet:
    """A source's options (its `values("pk", *option_fields)`) as one JSON array a row, in
    its order: a DISTINCT source by its ids (its order needs no column of the array's)."""
    rows = queryset
    if queryset.query.distinct:
        rows = queryset.model._default_manager.filter(
            pk__in=queryset.order_by().values("pk")
        ).order_by(*queryset.query.order_by)
    return rows.values_list(JSONArray("pk", *option_fields))


def read_options(form: forms.BaseForm, *names: str) -> None:
    """Read the options of `form`'s ValuesChoiceFields `names` (made from a `source`) in one
    statement on PostgreSQL, each field's as an array of JSON arrays, instead of a query per
    field when the form is rendered (the booking page: its clinicians and rooms). Elsewhere
    each field reads its own, as without this."""
    fields = [cast("ValuesChoiceField", form.fields[name]) for name in names]
    if connection.vendor != "postgresql" or any(f._json_options is None for f in fields):
        return
    parts = [cast("PreparedValues", f._json_options).sql_with_params() for f in fields]
    arrays = ", ".join(f"to_jsonb(ARRAY({sql}))" for sql, _ in parts)  # a document each
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {arrays}", [p for _, params in parts for p in params])  # noqa: S608 - the ORM's SQL
        columns = cursor.fetchone()
    for field, column in zip(fields, columns, strict=True):
        field.option_rows = json_rows(column)


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
# `{{ form|crispy }}` renders a template per field (and includes per field, per error, per
# help text and per radio button): about 0.5 ms a field. `bootstrap_form` writes the same
# markup byte for byte: the text of crispy's bootstrap5 templates (field.html and the layout
# parts it includes) with their whitespace as crispy's `specialspaceless` leaves it (a run of
# three or more between two tags is one space; crispy's own `remove_spaces` runs over the
# whole, as in crispy), the same classes, labels, help texts, error blocks and ids, and
# Django's widgets with their aria-invalid and aria-describedby, as crispy lets them. A field
# it does not write (a file, a widget of several widgets, grouped radio buttons or check
# boxes) is crispy's own `as_crispy_field`.

# The indentation in field.html before a label's text; its closing tag is 4 spaces less in.
_LABEL_INDENT = "\n" + " " * 16
_CHECK_LABEL_INDENT = "\n" + " " * 20


def _widget_css(widget: forms.Widget, bootstrap: str) -> str:
    """The widget's class as crispy's `{% crispy_field %}` makes it: its own class, else its
    type's name in lower case (`dateinput`, `fastselect`), then each of Bootstrap's classes
    it does not have yet."""
    kind = type(widget).__name__.lower()
    kind = getattr(settings, "CRISPY_CLASS_CONVERTERS", {}).get(kind, kind)
    css = widget.attrs.get("class", "")
    css = (css if kind in css else f"{css} {kind}") if css else kind
    have = css.split()
    return " ".join([css, *(name for name in bootstrap.split() if name not in have)])


def _attrs(attrs: Mapping[str, Any]) -> str:
    """Attributes as Django's and crispy's attrs.html write them: in their order, True as the
    bare name, False left out (flatatt would put the bare names last)."""
    return "".join(
        f" {name}" if value is True else f' {name}="{escaped(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


# Django's widget templates `_widget` writes in Python (about 100 µs each rendered): the
# <input> of input.html and of the templates that only include it, and the <textarea>.
_INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in "input text number email url password search tel color date datetime time "
    "hidden checkbox".split()
)
_TEXTAREA_TEMPLATE = "django/forms/widgets/textarea.html"
_SELECT_TEMPLATE = "django/forms/widgets/select.html"
_OPTION_TEMPLATE = "django/forms/widgets/select_option.html"
_WIDGETS = "django/forms/widgets/"


def widget_html(template_name: str, widget: Mapping[str, Any]) -> str | None:
    """What Django's input.html (and the templates that only include it) or textarea.html
    write for a widget's context (`get_context(...)["widget"]`), written in Python; None for
    any other template. Each value escaped as the templates' `{{ …|stringformat:'s' }}`
    escapes it: text escaped, safe text as it is."""
    if template_name == _TEXTAREA_TEMPLATE:
        value = widget["value"]
        text = escaped(value) if value else ""
        name = escaped(widget["name"])
        return f'<textarea name="{name}"{_attrs(widget["attrs"])}>\n{text}</textarea>'
    if template_name in _INPUT_TEMPLATES:
        value = widget["value"]
        shown = "" if value is None else f' value="{escaped(value)}"'
        return (
            f'<input type="{escaped(widget["type"])}" '
            f'name="{escaped(widget["name"])}"{shown}{_attrs(widget["attrs"])}>'
        )
    if template_name == _SELECT_TEMPLATE:
        return _select_html(widget)
    return None


def _select_html(widget: Mapping[str, Any]) -> str | None:
    """select.html with an include of select_option.html an option (the renderer strips
    the whole, not an option's closing newline); None if an option has a template of its
    own. Labels shown as `{{ … }}` shows them: localized, then escaped."""
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_shown(group_name)}">')
        for option in options:
            if option["template_name"] != _OPTION_TEMPLATE:
                return None
            parts.append(
                f'\n  <option value="{conditional_escape(option["value"])}"'
                f"{_attrs(option['attrs'])}>{_shown(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts).strip()


def _shown(value) -> str:
    """`{{ value }}` in a template (render_value_in_context): in the current time zone,
    localized, escaped."""
    value = localize(template_localtime(value))
    if not issubclass(type(value), str):
        value = str(value)
    return conditional_escape(value)


class FormRenderer(DjangoTemplates):
    """settings.FORM_RENDERER: Django's renderer, the <input> and <textarea> widgets written
    by `widget_html` instead of rendering their templates (about 100 µs each: a field shown
    as `{{ form.field }}`, a formset's management form). Every other template is Django's.
    (Django's renderer reads its own templates before any app's: these are always Django's.)"""

    def render(self, template_name, context, request=None):
        widget = context.get("widget") if template_name.startswith(_WIDGETS) else None
        if widget is not None:
            html = widget_html(template_name, widget)
            if html is not None:
                return html
        return super().render(template_name, context, request=request)


def _writes_itself(field: forms.BoundField) -> bool:
    """Whether `_widget` writes the field's widget: Django's own template for it (the
    renderers read Django's templates first), and no render of the widget's own."""
    widget = field.field.widget
    return (
        (widget.template_name in _INPUT_TEMPLATES or widget.template_name == _TEXTAREA_TEMPLATE)
        and type(field.form.renderer) in (DjangoTemplates, FormRenderer)
        and type(widget).render is forms.Widget.render
        and not field.field.show_hidden_initial
    )


def _widget(field: forms.BoundField, css: str | None = None) -> str:
    """`field.as_widget(attrs={"class": css})` (without css: `str(field)`), an <input> or a
    <textarea> written by `widget_html`; other widgets rendered by Django."""
    if not _writes_itself(field):
        return str(field) if css is None else field.as_widget(attrs={"class": css})
    widget = field.field.widget
    # The attributes and value as BoundField.as_widget gives them to the widget (a localized
    # field's widget is already localized: Field.__init__).
    attrs = field.build_widget_attrs({} if css is None else {"class": css}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    return cast(str, widget_html(widget.template_name, context))


def _label(field: forms.BoundField, opening: str, indent: str) -> str:
    """A label (a legend in a fieldset) after its opening tag: the text on its own line, a
    required field's asterisk right after it."""
    tag = opening[1:].split(maxsplit=1)[0]
    ending = '<span class="asteriskField">*</span> ' if field.field.required else indent[:-4]
    return f"{opening}{indent}{escaped(field.label)}{ending}</{tag}>"


def _form_label(field: forms.BoundField, tag: str, css: str) -> str:
    id_for_label = field.id_for_label
    label_for = f'for="{escaped(id_for_label)}"' if id_for_label else ""
    return _label(
        field, f'<{tag}{_LABEL_INDENT}{label_for} class="form-label{css}">', _LABEL_INDENT
    )


def _errors(field: forms.BoundField) -> list[str]:
    """bootstrap5/layout/field_errors_block.html (nothing without errors; its
    `field.errors.field_id` is the field's auto_id, as Form.add_error sets it)."""
    if not field.errors:
        return []
    return [
        " ".join(
            [
                f'<div id="{escaped(field.auto_id)}_error" class="invalid-feedback">',
                *(
                    f'<p id="error_{n}_{escaped(field.auto_id)}"><strong>{escaped(e)}</strong></p>'
                    for n, e in enumerate(field.errors, 1)
                ),
                "</div>",
            ]
        )
    ]


def _help(field: forms.BoundField) -> list[str]:
    """bootstrap5/layout/help_text.html (the help text is HTML there too)."""
    if not field.help_text:
        return []
    helptext_id = f'id="{escaped(field.auto_id)}_helptext" ' if field.auto_id else ""
    return [f'<div {helptext_id}class="form-text">{field.help_text}</div>']


def _radio_checkbox_select(field: forms.BoundField) -> str | None:
    """bootstrap5/layout/radio_checkbox_select.html: the radio buttons (check boxes of a
    CheckboxSelectMultiple), the field's errors in the last one's block (None when they are
    grouped: left to crispy)."""
    invalid = " is-invalid" if field.errors else ""
    buttons: list[str] = []
    for group, options, _index in optgroups(field):
        if group:
            return None
        buttons.extend(
            f'<div class="form-check"> <input type="{escape(option["type"])}" '
            f'class="form-check-input{invalid}"  name="{escape(field.html_name)}" '
            f'value="{escaped(unlocalize(option["value"]))}" {_attrs(option["attrs"])}>'
            f' <label for="{escape(option["attrs"].get("id", ""))}" class="form-check-label">'
            f"\n            {escaped(unlocalize(option['label']))}\n        </label>"
            for option in options
        )
    if buttons:
        buttons[-1] = " ".join([buttons[-1], *_errors(field)])
    return " ".join(["<div >", *(f"{button} </div>" for button in buttons), "</div>"])


def _is_crispy_only(field: forms.BoundField) -> bool:
    # crispy classes the inner widgets of a widget that wraps any (`widget`, `widgets`), and
    # writes the hidden input of a field's initial value after the field's own.
    widget = field.field.widget
    return (
        isinstance(widget, forms.FileInput)
        or any(hasattr(widget, name) for name in ("widget", "widgets"))
        or field.field.show_hidden_initial
    )


def bootstrap_field(field: forms.BoundField) -> str:
    """One field as bootstrap5/field.html writes it in `{{ form|crispy }}` (before crispy's
    `remove_spaces`, which `bootstrap_form` runs)."""
    widget = field.field.widget
    if field.is_hidden:
        return _widget(field)
    # CheckboxSelectMultiple is a RadioSelect too.
    buttons = _radio_checkbox_select(field) if isinstance(widget, forms.RadioSelect) else None
    if _is_crispy_only(field) or (field.use_fieldset and buttons is None):
        return as_crispy_field(field).strip()
    invalid = " is-invalid" if field.errors else ""
    extra = f" {escape(css)}" if (css := field.css_classes()) else ""
    auto_id = escape(field.auto_id)
    required = " requiredField" if field.field.required else ""
    if isinstance(widget, forms.CheckboxInput):
        control = _widget(field, _widget_css(widget, "form-check-input" + invalid))
        opening = f'<label for="{escaped(field.id_for_label)}" class="form-check-label{required}">'
        return " ".join(
            [
                f'<div class="mb-3"> <div id="div_{auto_id}" class="form-check{extra}">',
                control,
                _label(field, opening, _CHECK_LABEL_INDENT),
                *_errors(field),
                *_help(field),
                "</div> </div>",
            ]
        )
    parts = [f'<div id="div_{auto_id}" class="mb-3{extra}">']
    if buttons is not None:
        if field.label:
            aria = field.aria_describedby
            parts.append(f'<fieldset aria-describedby="{escaped(aria)}">' if aria else "<fieldset>")
            parts.append(_form_label(field, "legend", f"{required} fs-6"))
        parts.extend([buttons, *_help(field)])
        if field.label:
            parts.append("</fieldset>")
    else:
        if field.label:
            parts.append(_form_label(field, "label", required))
        bootstrap = "form-select" if isinstance(widget, forms.Select) else "form-control"
        parts.append(_widget(field, _widget_css(widget, bootstrap + invalid)))
        parts.extend([*_errors(field), *_help(field)])
    return " ".join([*parts, "</div>"])


def bootstrap_form(form: forms.BaseForm) -> SafeString:
    """A whole form as `{{ form|crispy }}` writes it (bootstrap5/uni_form.html): the errors
    above it, then each field in order (hidden ones as their input alone)."""
    parts = []
    if errors := form.non_field_errors():
        # Its items one a line, each after a tab: the first one's is in the space crispy makes.
        parts.append(
            '<div class="alert alert-block alert-danger"> <ul class="m-0"> '
            f"{unordered_list(errors, autoescape=True).lstrip()} </ul> </div>"
        )
    parts.extend(bootstrap_field(field) for field in form)
    # Every value and text above escaped as the templates escape them.
    return mark_safe(f"\n\n{remove_spaces(' '.join(parts))}\n")  # noqa: S308
