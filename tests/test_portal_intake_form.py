"""The intake form's markup built in Python (portal.forms.intake_form_html) is crispy-forms'
own, character for character, in every language and for any initial answers."""

import pytest
from django.template import engines
from django.utils import translation

from portal.forms import IntakeForm, intake_form_html

CRISPY = engines["django"].from_string("{% load crispy_forms_tags %}{{ form|crispy }}")

INITIALS = [
    {},
    {
        "medical_history": "Asthma <b>& co</b>\nline \"2\" 'x'",
        "allergies": "\n\nnuts",
        "takes_prescribed_nsaid": True,
        "prescribed_nsaid": "aspirin <100> mg",
        "smoking": "former",
        "alcohol": "regular",
        "previous_hair_treatments": "PRP",
        "goals": "more hair",
    },
    # "Add a line" re-shows what was typed: strings as posted, even a tampered choice.
    {"takes_prescribed_nsaid": "on", "smoking": "bogus", "alcohol": "", "goals": ""},
    {"takes_prescribed_nsaid": False, "prescribed_nsaid": "", "smoking": "current"},
]


@pytest.mark.parametrize("language", ["en", "de", "tr"])
@pytest.mark.parametrize("initial", INITIALS)
def test_same_markup_as_crispy(language, initial):
    with translation.override(language):
        assert intake_form_html(IntakeForm(initial=initial)) == CRISPY.render(
            {"form": IntakeForm(initial=initial)}
        )


def test_bound_forms_left_to_crispy():
    """Errors and posted values: crispy renders them (the template falls back)."""
    assert intake_form_html(IntakeForm({"smoking": "bogus"})) is None
