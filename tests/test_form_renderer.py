"""ui.forms.FormRenderer writes <input> and <textarea> as Django's templates write them."""

from datetime import date, time
from decimal import Decimal

from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.functional import lazy
from django.utils.safestring import mark_safe
from hypothesis import given, settings
from hypothesis import strategies as st

from ui.forms import FormRenderer

WIDGETS = [
    forms.TextInput,
    forms.EmailInput,
    forms.NumberInput,
    forms.URLInput,
    forms.HiddenInput,
    forms.DateInput,
    forms.TimeInput,
    forms.DateTimeInput,
    forms.SearchInput,
    forms.TelInput,
    forms.ColorInput,
    forms.CheckboxInput,
    forms.Textarea,
    lambda: forms.PasswordInput(render_value=True),
]
lazy_text = lazy(str, str)
text = st.text(alphabet=st.sampled_from("ab <>&\"'é\nx"), max_size=8)
values = st.one_of(
    st.none(),
    st.booleans(),
    text,
    text.map(mark_safe),
    text.map(lazy_text),
    st.integers(-5, 10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**6),
    st.sampled_from([date(2027, 2, 28), time(16, 0), Decimal("1.50")]),
)
attrs = st.dictionaries(
    st.sampled_from(["class", "placeholder", "required", "disabled", "data-x", "aria-describedby"]),
    values,
    max_size=4,
)
STOCK, OURS = DjangoTemplates(), FormRenderer()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(WIDGETS), values, attrs, st.sampled_from(["day", 'a"b<']))
def test_the_same_markup_as_djangos_templates(make_widget, value, attributes, name):
    widget = make_widget()
    stock = widget.render(name, value, attrs=dict(attributes), renderer=STOCK)
    ours = widget.render(name, value, attrs=dict(attributes), renderer=OURS)
    assert ours == stock


choice_values = st.one_of(st.none(), text, text.map(mark_safe), st.integers(-5, 10**6))
labels = st.one_of(
    text,
    text.map(mark_safe),
    text.map(lazy_text),
    st.integers(-5, 10**6),
    st.sampled_from([date(2027, 2, 28), Decimal("1.50")]),
)
flat = st.lists(st.tuples(choice_values, labels), max_size=5)
choices = st.one_of(
    flat,
    st.lists(  # groups, and options between them
        st.one_of(st.tuples(choice_values, labels), st.tuples(text, flat)), max_size=4
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([forms.Select, forms.SelectMultiple, forms.NullBooleanSelect]),
    choices,
    st.one_of(values, st.lists(st.one_of(text, st.integers(-5, 10)), max_size=3)),
    attrs,
    st.sampled_from(["view", 'a"b<']),
)
def test_selects_are_djangos_markup(make_widget, options, value, attributes, name):
    widget = make_widget()
    if isinstance(widget, forms.NullBooleanSelect):
        value = None if isinstance(value, list) else value  # it takes one value
    else:
        widget.choices = options
    stock = widget.render(name, value, attrs=dict(attributes), renderer=STOCK)
    ours = widget.render(name, value, attrs=dict(attributes), renderer=OURS)
    assert ours == stock


def test_selects_are_written_without_a_template(monkeypatch):
    widget = forms.Select(choices=[("1", "one & two"), ("2", "<b>")])
    stock = widget.render("s", "1", renderer=STOCK)
    monkeypatch.setattr(FormRenderer, "get_template", TestNoTemplate.refuse)
    assert widget.render("s", "1", renderer=OURS) == stock
    assert stock == (
        '<select name="s">\n  <option value="1" selected>one &amp; two</option>\n\n'
        '  <option value="2">&lt;b&gt;</option>\n\n</select>'
    )


class TestNoTemplate:
    @staticmethod
    def refuse(self, template_name):
        raise AssertionError(f"rendered {template_name}")


def test_other_templates_are_djangos():
    widget = forms.RadioSelect(choices=[("1", "one & two")])
    assert widget.render("s", "1", renderer=OURS) == widget.render("s", "1", renderer=STOCK)
    form = forms.formset_factory(forms.Form)().management_form
    assert form.render(renderer=OURS) == form.render(renderer=STOCK)


def test_it_is_the_projects_renderer():
    class Day(forms.Form):
        day = forms.DateField()

    assert isinstance(Day().renderer, FormRenderer)


def test_inputs_and_textareas_are_written_without_a_template(monkeypatch):
    def no_template(self, template_name):
        raise AssertionError(f"rendered {template_name}")

    monkeypatch.setattr(FormRenderer, "get_template", no_template)
    text = forms.TextInput().render("n", "v", renderer=OURS)
    assert text == '<input type="text" name="n" value="v">'
    assert forms.Textarea().render("t", "", renderer=OURS).startswith('<textarea name="t"')
