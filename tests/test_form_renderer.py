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


def test_other_templates_are_djangos():
    widget = forms.Select(choices=[("1", "one & two")])
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
