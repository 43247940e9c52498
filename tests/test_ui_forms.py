"""ui.forms.add_service_error: one mapping from a service's coded refusal to a form field,
each page app passing its own code → field map."""

import re
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.safestring import mark_safe

from ui.forms import add_service_error


class DayAndNote(forms.Form):
    day = forms.CharField(required=False)
    note = forms.CharField(required=False)


def refused(exc, field_for_code):
    form = DayAndNote(data={"day": "typed", "note": "kept"})
    assert form.is_valid()
    add_service_error(form, exc, field_for_code=field_for_code)
    return form


def test_a_mapped_code_goes_next_to_its_field_and_the_input_stays():
    form = refused(ValidationError("Too close.", code="session_gap"), {"session_gap": "day"})
    assert form.errors == {"day": ["Too close."]}
    assert form.data["day"] == "typed"


def test_a_code_the_map_does_not_name_goes_above_the_form():
    form = refused(ValidationError("No.", code="something_new"), {"session_gap": "day"})
    assert form.errors == {"__all__": ["No."]}
    form = refused(ValidationError("No code."), {"session_gap": "day"})
    assert form.errors == {"__all__": ["No code."]}


def test_a_field_the_form_does_not_have_goes_above_the_form():
    form = refused(ValidationError("Lot X.", code="lot_not_usable"), {"lot_not_usable": "lot"})
    assert form.errors == {"__all__": ["Lot X."]}


def test_a_field_chosen_by_the_error():
    def where(error):
        return error.params["what"]

    form = refused(
        ValidationError("Taken.", code="slot_taken", params={"what": "note"}),
        {"slot_taken": where},
    )
    assert form.errors == {"note": ["Taken."]}


def test_refusals_by_field_go_to_their_fields_whatever_the_map():
    exc = ValidationError(
        {"day": ValidationError("Bad day.", code="invalid"), "phone": ["Bad phone."]}
    )
    form = refused(exc, {"invalid": "note"})
    assert form.errors == {"day": ["Bad day."], "__all__": ["Bad phone."]}


def test_every_error_of_a_list_is_placed():
    exc = ValidationError(
        [ValidationError("Gap.", code="session_gap"), ValidationError("Odd.", code="other")]
    )
    form = refused(exc, {"session_gap": "day"})
    assert form.errors == {"day": ["Gap."], "__all__": ["Odd."]}


def test_the_staff_patient_form_offers_only_place_named_zones():
    from frontdesk.forms import PatientForm

    zones = [value for value, _ in PatientForm().fields["time_zone"].choices]
    assert "Europe/Berlin" in zones and "America/New_York" in zones
    assert not {"Factory", "localtime", "UTC", "Etc/GMT+5"} & set(zones)


@pytest.mark.parametrize(
    "value",
    [None, "", "b", ["b"], "<x>"],
)
def test_the_fast_select_writes_what_the_stock_one_does(value):
    """Same markup as Django's Select (its options built in Python, not one template each):
    the chosen option selected, labels and values escaped, groups kept."""
    from django.test.html import parse_html

    from ui.forms import FastSelect

    choices = [("", "Any"), ("a", "Ann & <Bo>"), ("b", 'B "2"'), ("Group", [("<x>", "X")])]
    attrs = {"id": "id_f", "class": "form-select", "required": True}
    stock = forms.Select(choices=choices).render("f", value, attrs=attrs)
    fast = FastSelect(choices=choices).render("f", value, attrs=attrs)
    assert parse_html(fast) == parse_html(stock)  # as assertHTMLEqual compares
    assert fast.count(" selected") == stock.count(" selected")


def test_the_fast_selects_attributes_are_flatatts_text():
    """The select's attributes byte for byte as Django's flatatt writes them: the valued ones
    by name, escaped, then the true ones bare; False and None left out."""
    from django.forms.utils import flatatt

    from ui.forms import _flatatt

    for attrs in (
        {},
        {"id": "id_f", "class": "form-select", "required": True},
        {"required": True, "multiple": True, "disabled": False, "b": None, "a": 'x "&" <y>'},
        {"data-n": 3, "aria-label": "Who's <here>", "autofocus": True},
    ):
        assert _flatatt(attrs) == flatatt(attrs)


def test_the_fast_select_selects_only_the_first_match_and_keeps_a_multiple_one():
    from django.test.html import parse_html

    from ui.forms import FastSelect

    choices = [("a", "A"), ("a", "A again"), ("b", "B")]
    for stock_widget, fast_widget, value in (
        (forms.Select(choices=choices), FastSelect(choices=choices), "a"),
        (forms.SelectMultiple(choices=choices), FastSelect(choices=choices), ["a", "b"]),
    ):
        fast_widget.allow_multiple_selected = stock_widget.allow_multiple_selected
        stock = stock_widget.render("f", value)
        fast = fast_widget.render("f", value)
        assert parse_html(fast) == parse_html(stock)


class EveryKind(forms.Form):
    """A field of every widget kind the staff forms and the intake form render through
    `bootstrap_form`."""

    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(choices=[("a", "A & <b>")], help_text="Pick <em>one</em>.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sure = forms.BooleanField(required=False, label="I'm sure", help_text="Tick it.")
    must = forms.BooleanField(label="Must tick")
    reason = forms.CharField(required=False, max_length=20, label="Why <not>?")
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)
    pick = forms.ChoiceField(choices=[("x", "X"), ("y", "Y & <z>")], widget=forms.RadioSelect)
    level = forms.TypedChoiceField(
        required=False,
        coerce=int,
        choices=[("", "None"), (1000, "A <lot>")],
        initial=1000,
        widget=forms.RadioSelect,
        help_text="How <b>much</b>.",
    )
    many = forms.MultipleChoiceField(
        choices=[("a", "A"), ("b", "B")], initial=["b"], widget=forms.CheckboxSelectMultiple
    )
    count = forms.IntegerField(required=False, min_value=1, initial=1000)
    amount = forms.DecimalField(required=False, localize=True, initial=Decimal("1234.5"))
    email = forms.EmailField(required=False, initial="a&b@example.test")
    at = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    secret = forms.CharField(required=False, widget=forms.PasswordInput)
    key = forms.UUIDField(widget=forms.HiddenInput, initial="00000000-0000-4000-8000-000000000000")


class OwnInput(forms.TextInput):
    """A widget writing its own markup (not Django's template)."""

    def render(self, name, value, attrs=None, renderer=None):
        return mark_safe(f'<input name="{name}" data-own>')


class Oddities(forms.Form):
    """What crispy's templates and its whitespace rule make of unusual labels, help texts,
    values and classes."""

    required_css_class = "needed"
    error_css_class = "wrong"
    tagged = forms.CharField(label=mark_safe("<b>Bold</b>"), help_text="<i>a</i>   <i>b</i>")
    spaces = forms.CharField(required=False, widget=forms.Textarea, initial="  ")
    styled = forms.ChoiceField(
        choices=[("a", "A")], widget=forms.Select(attrs={"class": "form-select form-select-sm"})
    )
    unlabelled = forms.ChoiceField(
        label="", choices=[("a", "A")], widget=forms.RadioSelect(attrs={"data-empty": ""})
    )
    nameless = forms.CharField(label="", required=False)
    silent = forms.BooleanField(label="", required=False)
    none = forms.ChoiceField(required=False, choices=[], widget=forms.RadioSelect)
    own = forms.CharField(required=False, widget=OwnInput, initial="x")


class LeftToCrispy(forms.Form):
    """Fields `bootstrap_form` does not write itself: crispy's own `as_crispy_field`."""

    upload = forms.FileField(required=False, help_text="A file.")
    when = forms.SplitDateTimeField(required=False)
    grouped = forms.ChoiceField(
        choices=[("Group", [("a", "A"), ("b", "B")])], widget=forms.RadioSelect
    )
    after = forms.CharField(required=False)
    changed = forms.CharField(required=False, show_hidden_initial=True, initial="<was>")
    was = forms.CharField(required=False, show_hidden_initial=True, widget=forms.HiddenInput)


BAD = {
    "day": "nonsense",
    "kind": "z",
    "note": "<b>",
    "reason": "x" * 30,
    "sure": "on",
    "pick": "y",
    "level": "7",
    "many": ["z"],
    "when_0": "no",
    "grouped": "z",
    "tagged": "",
    "styled": "z",
    "unlabelled": "z",
    "count": "0",
    "amount": "1.234,56",
    "email": "no",
    "secret": "s<",
    "key": "bad",
    "changed": "<now>",
}


@pytest.mark.parametrize("kind", [EveryKind, Oddities, LeftToCrispy])
@pytest.mark.parametrize("data", [None, {}, BAD])
@pytest.mark.parametrize("auto_id", ["id_%s", ""])
@pytest.mark.parametrize("language", ["en", "de"])
def test_bootstrap_form_writes_what_crispy_writes(kind, data, auto_id, language):
    """`{{ form|bootstrap_form }}` is `{{ form|crispy }}` in Python, byte for byte: the same
    labels, help texts, error blocks with their ids, `is-invalid`, aria attributes, radio
    buttons, the errors above the form and crispy's whitespace."""
    from django.template import engines

    from ui.forms import bootstrap_form

    def form():
        made = kind(data, auto_id=auto_id)
        if data is not None:
            made.is_valid()
            made.add_error(None, "Above <all>.")
            made.add_error(None, "And this.")
        return made

    crispy = engines["django"].from_string("{% load crispy_forms_tags %}{{ form|crispy }}")
    with translation.override(language):  # localized values, translated errors
        ours = str(bootstrap_form(form()))
        assert ours == crispy.render({"form": form()})
    if data and kind is EveryKind and auto_id:
        assert 'aria-describedby="id_kind_helptext id_kind_error"' in ours
        assert '<fieldset aria-describedby="id_level_helptext id_level_error">' in ours
        assert "Above &lt;all&gt;." in ours and "Y &amp; &lt;z&gt;" in ours


@pytest.mark.parametrize("kind", [EveryKind, Oddities, LeftToCrispy])
@pytest.mark.parametrize("data", [None, BAD])
@pytest.mark.parametrize("language", ["en", "de"])
def test_bootstrap_field_writes_what_as_crispy_field_writes(kind, data, language):
    """`{{ field|bootstrap_field }}` is `{{ field|as_crispy_field }}` in Python: the same
    markup, with each run of white space made one space (crispy's field.html indents its
    tags on lines of their own; a browser shows both alike). A textarea's value, where
    white space is the patient's text, is the same to the character."""
    from django.template import engines

    crispy = engines["django"].from_string("{% load crispy_forms_tags %}{{ f|as_crispy_field }}")
    ours = engines["django"].from_string("{% load bootstrap_forms %}{{ f|bootstrap_field }}")
    form = kind(data)
    if data is not None:
        form.is_valid()
    with translation.override(language):
        for field in form:
            theirs, mine = crispy.render({"f": field}), ours.render({"f": field})
            assert " ".join(mine.split()) == " ".join(theirs.split()), field.name
            textareas = re.compile(r"<textarea[^>]*>(.*?)</textarea>", re.S)
            assert textareas.findall(mine) == textareas.findall(theirs), field.name


@pytest.mark.django_db
def test_the_review_filters_are_written_as_crispy_writes_them():
    from django.template import engines

    from frontdesk.forms import ReviewFilterForm

    crispy = engines["django"].from_string("{% load crispy_forms_tags %}{{ f|as_crispy_field }}")
    ours = engines["django"].from_string("{% load bootstrap_forms %}{{ f|bootstrap_field }}")
    for data in (None, {"status": "bogus", "date_from": "x", "date_to": "2026-13-01"}):
        form = ReviewFilterForm(data)
        for field in form:
            mine = ours.render({"f": field})
            assert " ".join(mine.split()) == " ".join(crispy.render({"f": field}).split())
        if data:
            assert "is-invalid" in str(ours.render({"f": form["date_from"]}))


@pytest.mark.django_db
def test_the_values_choice_field_offers_what_a_model_choice_field_does():
    """The booking form's clinician select: options from plain values, the same as from the
    model instances; the choice still cleans into the instance."""
    from django.contrib.auth import get_user_model

    from treatments.selectors import CLINICIAN_NAME_FIELDS, clinician_name
    from ui.forms import ValuesChoiceField

    users = get_user_model().objects
    users.create_user("nameless")
    chosen = users.create_user("ann", first_name="Ann", last_name="<Meyer>")
    users.create_user("solo", last_name="Solo")
    query = users.order_by("username")
    stock = forms.ModelChoiceField(query)
    stock.label_from_instance = lambda u: u.get_full_name() or u.username
    fast = ValuesChoiceField(
        query, option_fields=CLINICIAN_NAME_FIELDS, option_label=clinician_name
    )
    assert [(str(value), str(label)) for value, label in fast.choices] == [
        (str(value), str(label)) for value, label in stock.choices
    ]
    assert fast.clean(str(chosen.pk)) == chosen


@pytest.mark.django_db
def test_a_values_choice_field_from_a_source_reads_its_options_by_a_compiled_statement():
    """`source=`: the options of the source's queryset, read by a statement compiled once
    (a new row shows at the next form), written escaped as Django's Select writes them; a
    form's copy keeps them, a queryset set later is read as it is."""
    import copy

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.html import parse_html
    from django.test.utils import CaptureQueriesContext

    from treatments.selectors import CLINICIAN_NAME_FIELDS, clinician_name
    from ui.forms import ValuesChoiceField

    users = get_user_model().objects
    odd = users.create_user("odd", first_name='<b>O\'Neil & "Sons"</b>')
    users.create_user("ann", first_name="Ann", last_name="Meyer")

    def source():
        return users.order_by("username")

    fast = ValuesChoiceField(
        source=source, option_fields=CLINICIAN_NAME_FIELDS, option_label=clinician_name
    )
    stock = forms.ModelChoiceField(source())
    stock.label_from_instance = lambda u: u.get_full_name() or u.username
    assert fast.options is not None
    for field in (fast, copy.deepcopy(fast)):
        assert field.options is fast.options
        assert list(field.choices) == [
            (value if value == "" else value.value, label) for value, label in stock.choices
        ]
        html = field.widget.render("clinician", str(odd.pk))
        assert parse_html(html) == parse_html(
            forms.Select(choices=stock.choices).render("clinician", str(odd.pk))
        )
        assert "&lt;b&gt;O&#x27;Neil &amp; &quot;Sons&quot;&lt;/b&gt;" in html
        assert "<b>" not in html
    late = users.create_user("zed", first_name="Zed")
    with CaptureQueriesContext(connection) as ctx:
        labels = [label for _, label in copy.deepcopy(fast).choices]
    assert labels[-1] == "Zed" and len(ctx.captured_queries) == 1
    assert fast.clean(str(late.pk)) == late
    # Another queryset: its own options, through the ORM.
    other = copy.deepcopy(fast)
    other.queryset = users.filter(username="ann")
    assert other.options is None
    assert [label for _, label in other.choices] == ["---------", "Ann Meyer"]


@pytest.mark.django_db
def test_a_values_choice_field_from_a_source_cleans_as_a_model_choice_field():
    """What is chosen is cleaned into the same instance (with the source's select_related,
    read with it), and what is not a choice is refused alike, from a compiled read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import RoomFactory
    from treatments.models import Room
    from ui.forms import ValuesChoiceField

    room = RoomFactory(name="Room <1>")
    closed = RoomFactory(name="Closed", is_active=False)

    def source():
        return Room.objects.filter(is_active=True).select_related("site")

    fast = ValuesChoiceField(source=source, option_fields=("name",), option_label=str)
    stock = forms.ModelChoiceField(source())
    site_name = room.site.name
    for value in (str(room.pk), room.pk, f" {room.pk} ", room):
        got = fast.clean(value)
        assert got == stock.clean(value) == room
        with CaptureQueriesContext(connection) as ctx:
            assert got.site.name == site_name
        assert ctx.captured_queries == [], value
    for value in ("abc", "1.5", str(closed.pk), str(room.pk + 1000), str(2**63), "9" * 30):
        for field in (fast, stock):
            with pytest.raises(ValidationError) as refused:
                field.clean(value)
            assert refused.value.code == "invalid_choice"
    for field in (fast, stock):
        with pytest.raises(ValidationError) as refused:
            field.clean("")
        assert refused.value.code == "required"


@pytest.mark.parametrize("language", ["en-gb", "de", "tr"])
@pytest.mark.parametrize("page_query", ["", "q=santos", "q=a%26b&day=2027-03-10&x=<i>"])
def test_the_pager_is_the_pagination_templates_byte_for_byte(language, page_query):
    """ui.pagination.pager_html writes what staff/_pagination.html writes, for a Window
    (has_next as a value) and a Django Page (methods, a paginator) on every side."""
    from django.core.paginator import Paginator
    from django.template.loader import get_template
    from django.utils import translation

    from ui.pagination import Window, pager_html

    pages = [
        Window([1], 1, False, False),
        Window([1], 1, False, True),
        Window([1], 3, True, True),
        Window([1], 1234, True, False),
        *(Paginator(range(5), 2).page(n) for n in (1, 2, 3)),
        Paginator(range(1), 2).page(1),
        Paginator(range(3000), 1).page(1500),
    ]
    template = get_template("staff/_pagination.html")
    with translation.override(language):
        for page in pages:
            expected = template.render({"page": page, "page_query": page_query})
            assert pager_html(page, page_query) == expected, (page, page_query)


@pytest.mark.django_db
def test_a_values_choice_fields_options_written_once_follow_their_rows():
    """FastSelect writes a source field's options once for the same rows, choice and
    language (ui.forms._options_of): a new row, another choice, another empty label each
    write them anew, as Django's Select writes them."""
    import copy

    from django.contrib.auth import get_user_model
    from django.test.html import parse_html

    from treatments.selectors import CLINICIAN_NAME_FIELDS, clinician_name
    from ui.forms import ValuesChoiceField

    users = get_user_model().objects
    ann = users.create_user("ann", first_name="Ann", last_name="Meyer")

    def source():
        return users.order_by("username")

    def written(field, value):
        stock = forms.ModelChoiceField(source(), empty_label=field.empty_label)
        stock.label_from_instance = lambda u: u.get_full_name() or u.username
        expected = forms.Select(choices=stock.choices).render("who", value)
        html = field.widget.render("who", value)
        assert parse_html(html) == parse_html(expected)
        return html

    fast = ValuesChoiceField(
        source=source, option_fields=CLINICIAN_NAME_FIELDS, option_label=clinician_name
    )
    first = written(fast, str(ann.pk))
    assert written(copy.deepcopy(fast), str(ann.pk)) == first
    bob = users.create_user("bob", first_name="Bob <&>")
    again = written(copy.deepcopy(fast), str(ann.pk))
    assert again != first and "Bob &lt;&amp;&gt;" in again
    assert f'<option value="{bob.pk}" selected>' in written(fast, str(bob.pk))
    safe = copy.deepcopy(fast)
    safe.empty_label = mark_safe("<i>all</i>")
    assert '<option value="" selected><i>all</i></option>' in written(safe, "")
    safe.empty_label = "<i>all</i>"
    assert "&lt;i&gt;all&lt;/i&gt;" in written(safe, "")
