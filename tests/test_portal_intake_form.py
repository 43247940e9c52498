"""The intake form as the portal's intake page writes it (ui.forms.bootstrap_form, its radio
buttons included) is crispy-forms' own markup, character for character, in every language,
for any initial answers and with the errors of a refused form."""

import pytest
from django.template import engines
from django.utils import translation

from portal.forms import IntakeForm
from ui.forms import bootstrap_form

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

# Refused as sent: a tampered choice, a missing one, the NSAID without its name, too long.
POSTED = [
    {"smoking": "bogus"},
    {
        "medical_history": "<b>x</b>",
        "allergies": "  ",
        "takes_prescribed_nsaid": "on",
        "prescribed_nsaid": " ",
        "alcohol": "regular",
        "goals": "x" * 5000,
    },
]


def same_as_crispy(make) -> None:
    assert str(bootstrap_form(make())) == CRISPY.render({"form": make()})


@pytest.mark.parametrize("language", ["en", "de", "tr"])
@pytest.mark.parametrize("initial", INITIALS)
def test_same_markup_as_crispy(language, initial):
    with translation.override(language):
        same_as_crispy(lambda: IntakeForm(initial=initial))


@pytest.mark.parametrize("language", ["en", "de", "tr"])
@pytest.mark.parametrize("data", POSTED)
def test_a_refused_form_too(language, data):
    """Errors, posted values, `is-invalid` on the radio buttons and the error block in the
    last one: crispy's markup as well (crispy itself rendered them before)."""

    def refused():
        form = IntakeForm(data)
        assert not form.is_valid()
        return form

    with translation.override(language):
        same_as_crispy(refused)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["de", "tr"])
def test_the_intake_page_writes_the_form_as_crispy_does(language, frozen):
    """The page itself (its template's `{{ form|bootstrap_form }}`): filled in from the newest
    version, and refused as sent with the errors next to the radio buttons."""
    from django.urls import reverse

    from tests.factories import PatientFactory, pending_intake
    from tests.test_intake import answers, portal_client

    patient = PatientFactory(intake=False, language=language)
    client = portal_client(patient)
    newest = pending_intake(patient, medical_history="Asthma <b>& co</b>", smoking="former")
    initial = {name: getattr(newest, name) for name in IntakeForm.base_fields}
    refused = answers(smoking="bogus", alcohol="")
    for response, form in (
        (client.get(reverse("portal_intake")), IntakeForm(initial=initial)),
        (client.post(reverse("portal_intake"), refused), IntakeForm(refused)),
    ):
        assert response.status_code == 200
        with translation.override(language):
            assert CRISPY.render({"form": form}) in response.content.decode()
