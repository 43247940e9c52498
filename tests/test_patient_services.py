"""patients.services.register_patient."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from patients.services import register_patient

pytestmark = pytest.mark.django_db


def register(**overrides):
    fields = dict(
        first_name=" Anna ",
        last_name="Berg",
        date_of_birth=date(1980, 2, 29),
        email="anna.berg@example.com",
    )
    fields.update(overrides)
    return register_patient(**fields)


def test_register_with_clinic_time_zone_by_default():
    patient = register()
    assert patient.pk and patient.first_name == "Anna"
    assert patient.time_zone == "Europe/Berlin"


def test_duplicate_email_is_refused_whatever_the_case():
    register()
    with pytest.raises(ValidationError) as exc:
        register(email="Anna.Berg@Example.com")
    assert exc.value.code == "duplicate_email"
    assert "Anna.Berg@Example.com" in exc.value.messages[0]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        # Two days on: the future on every clock (the rule reads the clinic's day).
        ({"date_of_birth": date.today() + timedelta(days=2)}, "date_of_birth"),
        ({"takes_prescribed_nsaid": True}, "prescribed_nsaid"),
        ({"reminders_by_sms": True, "phone": ""}, "phone"),
        ({"phone": "call me maybe"}, "phone"),
        ({"first_name": ""}, "first_name"),
    ],
)
def test_bad_input_names_the_field(overrides, field):
    with pytest.raises(ValidationError) as exc:
        register(**overrides)
    assert field in exc.value.message_dict
