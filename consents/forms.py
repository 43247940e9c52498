"""The signing and withdrawal forms, shared by the portal and the front desk's tablet."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ConsentVersion


class SignForm(forms.Form):
    """Type the full name, tick each statement; the hash of the text shown rides along so a
    page opened on other words cannot sign the new ones."""

    typed_name = forms.CharField(label=_("Your full name"), max_length=200)
    statements = forms.MultipleChoiceField(
        label=_("I confirm"), widget=forms.CheckboxSelectMultiple, required=False
    )
    shown_sha256 = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, version: ConsentVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.fields["statements"].choices = [
            (str(i), text) for i, text in enumerate(version.statements)
        ]
        self.fields["shown_sha256"].initial = version.sha256
        if not version.statements:
            del self.fields["statements"]

    def ticked(self) -> list[str]:
        return [self.version.statements[int(i)] for i in self.cleaned_data.get("statements", [])]


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you withdraw this consent?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )


# Where the services' refusal codes go on these forms (ui.forms.add_service_error).
FIELD_FOR_CODE: dict = {
    "name_mismatch": "typed_name",
    "statements_required": "statements",
    "reason_required": "reason",
}
