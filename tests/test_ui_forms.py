"""ui.forms.add_service_error: one mapping from a service's coded refusal to a form field,
each page app passing its own code → field map."""

import pytest
from django import forms
from django.core.exceptions import ValidationError

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
