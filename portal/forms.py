from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from patients.intake import MAX_MEDICATION_LINES
from patients.models import INTAKE_TEXT_MAX, Alcohol, Smoking
from patients.phones import country_choices
from patients.validators import EARLIEST_DAY, LATEST_DAY
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
        self.fields["username"].label = _("Username or email")
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
        label=_("What do you notice, and since when?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )


class PreferencesForm(forms.Form):
    # Each language in its own name (Deutsch, Türkçe): findable whatever the page is in.
    # Left out (an older page still open): the stored language stays as it is.
    language = forms.ChoiceField(choices=settings.LANGUAGES, label=_("Language"), required=False)
    reminders_by_email = forms.BooleanField(required=False, label=_("Reminders by email"))
    reminders_by_sms = forms.BooleanField(required=False, label=_("Reminders by SMS"))
    phone = forms.CharField(required=False, max_length=32, label=_("Mobile phone"))
    # The region a number typed without its country code is read in (Patient.country), as on
    # the staff's form. Left out (an older page still open): the stored country stays.
    country = forms.ChoiceField(
        choices=country_choices,
        required=False,
        label=_("Country you live in"),
        help_text=_("A phone number typed without a country code is read as one of this country."),
    )
    time_zone = TimeZoneField(label=_("Your time zone"))
    non_essential_opt_out = forms.BooleanField(
        required=False,
        label=_("Only essential messages"),
        help_text=_(
            "You will still hear about your bookings, the NSAID pause, aftercare and cancellations."
        ),
    )

    def __init__(self, *args, current_time_zone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"] = TimeZoneField(
            label=_("Your time zone"), current=current_time_zone
        )


class ChangeRequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=ChangeRequest.Kind.choices,
        widget=forms.RadioSelect,
        label=_("What would you like?"),
    )
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Anything we should know (e.g. dates that suit you)?"),
        max_length=2000,
    )


class IntakeForm(forms.Form):
    """The intake questionnaire's answers (the medication lines are MedicationLineFormSet)."""

    medical_history = forms.CharField(
        required=False,
        max_length=INTAKE_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Your medical history"),
        help_text=_(
            "Illnesses, operations, conditions of the skin or scalp, anything a doctor "
            "treats you for."
        ),
    )
    allergies = forms.CharField(
        required=False,
        max_length=INTAKE_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Allergies"),
    )
    takes_prescribed_nsaid = forms.BooleanField(
        required=False,
        label=_(
            "I take an NSAID prescribed by a doctor (for example daily low-dose aspirin "
            "for the heart)"
        ),
        help_text=_("Do not stop it on your own: a clinician decides with you before the session."),
    )
    prescribed_nsaid = forms.CharField(
        required=False, max_length=200, label=_("Its name and dose (e.g. aspirin 100 mg daily)")
    )
    smoking = forms.ChoiceField(
        choices=Smoking.choices, widget=forms.RadioSelect, label=_("Smoking")
    )
    alcohol = forms.ChoiceField(
        choices=Alcohol.choices, widget=forms.RadioSelect, label=_("Alcohol")
    )
    previous_hair_treatments = forms.CharField(
        required=False,
        max_length=INTAKE_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Previous hair treatments"),
        help_text=_("Minoxidil, finasteride, PRP, transplants…, and when."),
    )
    goals = forms.CharField(
        required=False,
        max_length=INTAKE_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("What you hope the treatment achieves"),
    )

    def clean(self):
        data = super().clean()
        if data.get("takes_prescribed_nsaid") and not (data.get("prescribed_nsaid") or "").strip():
            self.add_error("prescribed_nsaid", _("Name the NSAID your doctor prescribed."))
        return data


class MedicationLineForm(forms.Form):
    """One medicine the patient takes. A line with only a dose or a date is kept and asked
    for its name, never silently dropped; an all-empty line is no line."""

    name = forms.CharField(required=False, max_length=200, label=_("Medicine"))
    dose = forms.CharField(required=False, max_length=100, label=_("Dose"))
    since = forms.CharField(required=False, max_length=100, label=_("Since when"))

    def clean(self):
        data = super().clean()
        if (data.get("dose") or data.get("since")) and not (data.get("name") or "").strip():
            self.add_error("name", _("Name the medicine of this line (or tick Remove)."))
        return data


class _MedicationLines(forms.BaseFormSet):
    def clean(self):
        # A tampered count (negative) would read as "no lines": refuse it instead.
        if (self.management_form.cleaned_data.get("TOTAL_FORMS") or 0) < 0:
            raise forms.ValidationError(_("The medication lines were not sent whole: try again."))

    def lines(self) -> list[tuple[str, str, str]]:
        """The lines to keep, in the order typed: not removed, not all empty."""
        kept = []
        for form in self.forms:
            data = form.cleaned_data
            if not data or (self.can_delete and self._should_delete_form(form)):
                continue
            if data.get("name", "").strip():
                kept.append((data["name"], data.get("dose", ""), data.get("since", "")))
        return kept


MedicationLineFormSet = forms.formset_factory(
    MedicationLineForm,
    formset=_MedicationLines,
    extra=0,
    can_delete=True,
    max_num=MAX_MEDICATION_LINES,
    validate_max=True,
    absolute_max=MAX_MEDICATION_LINES,
)


class SelfBookingQueryForm(forms.Form):
    """The self-booking page's query: the site (only asked with several sites), the week
    (0 = the one starting today) and the patient's own session being moved, if any.
    Whatever does not parse is ignored (the defaults are shown)."""

    site = forms.ModelChoiceField(queryset=None, required=False, empty_label=None)
    week = forms.IntegerField(required=False, min_value=0)
    move = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args, sites, sessions, weeks: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].label_from_instance = lambda site: f"{site.name}, {site.city}"
        self.fields["week"].max_value = max(weeks - 1, 0)
        self.fields["week"].validators.append(
            MaxValueValidator(max(weeks - 1, 0))  # max_value set late is not enforced
        )
        self.fields["move"].queryset = sessions

    def value(self, name, default=None):
        if not self.is_bound:
            return default
        field = self.fields[name]
        try:
            value = field.clean(field.widget.value_from_datadict(self.data, self.files, name))
        except forms.ValidationError:
            return default
        return default if value in (None, "") else value


class SlotChoiceForm(forms.Form):
    """A slot picked from the list: its site and start; the finder chooses the rest."""

    site = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput)
    starts_at = forms.DateTimeField(widget=forms.HiddenInput)
    move = forms.ModelChoiceField(queryset=None, required=False, widget=forms.HiddenInput)
    booking_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, sites, sessions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["move"].queryset = sessions


class WaitlistJoinForm(forms.Form):
    """Asking for an earlier date: the site (only asked with several sites) and, if the
    patient wishes, the last day they would still take."""

    site = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Clinic"))
    not_after = forms.DateField(
        required=False,
        label=_("Only offer me days up to (optional)"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[
            MinValueValidator(EARLIEST_DAY),
            MaxValueValidator(LATEST_DAY),
        ],
    )

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].label_from_instance = lambda site: f"{site.name}, {site.city}"


class OfferAnswerForm(forms.Form):
    """The patient's answer to a waitlist offer."""

    answer = forms.ChoiceField(choices=[("accept", "accept"), ("decline", "decline")])
