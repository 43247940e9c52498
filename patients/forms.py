import zoneinfo

from django import forms
from django.conf import settings

from ui.forms import FieldFor

from .models import Patient, born_from_1900
from .validators import validate_no_bidi_controls

TIME_ZONES = sorted(zoneinfo.available_timezones())

# Which field a refusal code of patients.services belongs next to (ui.forms.add_service_error).
FIELD_FOR_CODE: dict[str, FieldFor] = {"duplicate_email": "email"}


class PatientForm(forms.ModelForm):
    """Registration: the fields; patients.services.register_patient decides."""

    time_zone = forms.ChoiceField(choices=[(z, z) for z in TIME_ZONES])
    contact_consent = forms.BooleanField(
        required=False, label="The patient agrees to be contacted about their care (reminders)"
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "time_zone",
            "reminders_by_email",
            "reminders_by_sms",
            "non_essential_opt_out",
            "medications",
            "takes_prescribed_nsaid",
            "prescribed_nsaid",
            "allergies",
            "notes",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "medications": forms.Textarea(attrs={"rows": 2}),
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].initial = settings.CLINIC_TIME_ZONE
        # The model's rules (patients.models) hold on every write path; the form states the
        # ones it can check alone, so the error shows next to the field before the service.
        for name in ("first_name", "last_name"):
            self.fields[name].validators.append(validate_no_bidi_controls)
        self.fields["date_of_birth"].validators.append(born_from_1900)

    def _post_clean(self):
        # Model validation happens in the service, which reports errors by field.
        pass


class PatientSearchForm(forms.Form):
    """The patient list's search box."""

    q = forms.CharField(required=False, max_length=200)
