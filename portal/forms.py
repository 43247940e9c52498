from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

from treatments.models import ChangeRequest
from ui.forms import FieldFor
from ui.time_zones import TimeZoneField

# Which field a refusal code of the services the portal calls belongs next to (see
# ui.forms.add_service_error). None yet: a patient's change request is refused as a whole
# (already asked, too late) and the preferences by field (the record's own checks).
FIELD_FOR_CODE: dict[str, FieldFor] = {}


class SignInForm(AuthenticationForm):
    """Staff sign in with their username, patients with their email (any letter case)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Username or email"
        # AuthenticationForm sets max_length (150, the User model's) after the field is built,
        # so it is not enforced: a 10,000-character name reached django-axes, which failed
        # storing it (HTTP 500). Enforce it here.
        self.fields["username"].validators.append(
            MaxLengthValidator(self.fields["username"].max_length)
        )

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        return username.lower() if "@" in username else username


class SideEffectForm(forms.Form):
    description = forms.CharField(
        label="What do you notice, and since when?",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )


class PreferencesForm(forms.Form):
    reminders_by_email = forms.BooleanField(required=False, label="Reminders by email")
    reminders_by_sms = forms.BooleanField(required=False, label="Reminders by SMS")
    phone = forms.CharField(required=False, max_length=32, label="Mobile phone")
    time_zone = TimeZoneField(label="Your time zone")
    non_essential_opt_out = forms.BooleanField(
        required=False,
        label="Only essential messages",
        help_text="You will still hear about your bookings, the NSAID pause, aftercare and "
        "cancellations.",
    )

    def __init__(self, *args, current_time_zone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"] = TimeZoneField(label="Your time zone", current=current_time_zone)


class ChangeRequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=ChangeRequest.Kind.choices, widget=forms.RadioSelect, label="What would you like?"
    )
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Anything we should know (e.g. dates that suit you)?",
        max_length=2000,
    )
