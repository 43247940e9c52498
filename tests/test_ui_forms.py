"""ui.forms.add_service_error: one mapping from a service's coded refusal to a form field,
each page app passing its own code → field map."""

from django import forms
from django.core.exceptions import ValidationError

from ui.forms import QuickSelect, add_service_error


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


def test_the_quick_select_writes_what_djangos_select_writes():
    choices = [("", "---------"), (1, "Dr Aydın & <Partner>"), (2, 'Room "2"'), (30, "Third")]
    attrs = {"id": "id_room", "class": "form-select is-invalid", "required": True, "x": False}
    for value in (None, "", 1, "2", 30, 99):
        for extra in (attrs, None):
            own = {"data-a": "b"}
            quick = QuickSelect(attrs=own, choices=choices).render("room", value, extra)
            assert quick == forms.Select(attrs=own, choices=choices).render("room", value, extra)
    grouped = [("Berlin", [(1, "One")]), ("Istanbul", [(2, "Two")])]
    assert QuickSelect(choices=grouped).render("room", 2) == forms.Select(choices=grouped).render(
        "room", 2
    )
