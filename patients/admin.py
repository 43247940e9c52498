from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import pgettext, pgettext_lazy

from . import invitations, services
from .models import Patient


class PatientAdminForm(forms.ModelForm):
    """The email is the patient's portal sign-in too: a change is checked here (duplicates,
    another login's name) and made by patients.services.change_patient_email. (The admin
    supplies the model and fields.)"""

    amendment_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=pgettext_lazy("staff", "Why is the medical information changed?"),
        help_text=pgettext_lazy(
            "staff",
            "Needed to change or clear medical information already on file "
            "(patients.services.update_patient); the earlier entry is kept with the reason.",
        ),
    )

    def clean(self):
        data = super().clean()
        amended = [
            name
            for name in services.MEDICAL_FIELDS
            if self.instance.pk and name in self.changed_data and self.initial.get(name)
        ]
        if amended and not (data.get("amendment_reason") or "").strip():
            self.add_error(
                "amendment_reason",
                ValidationError(
                    pgettext("staff", "Say why the medical information is changed."),
                    code="required",
                ),
            )
        return data

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        others = Patient.objects.filter(email__iexact=email)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(
                pgettext("staff", "A patient with this email is already registered."),
                code="duplicate_email",
            )
        logins = User.objects.filter(username__iexact=email)
        if self.instance.user_id and logins.exclude(pk=self.instance.user_id).exists():
            raise ValidationError(
                pgettext("staff", "Another account already signs in as %(email)s."),
                code="account_exists",
                params={"email": email},
            )
        return email


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = (
        "last_name",
        "first_name",
        "date_of_birth",
        "email",
        "phone",
        "time_zone",
        "takes_prescribed_nsaid",
    )
    list_filter = (
        "takes_prescribed_nsaid",
        "reminders_by_sms",
        "non_essential_opt_out",
        "time_zone",
    )
    search_fields = ("last_name", "first_name", "email", "phone")
    date_hierarchy = "created_at"
    # The portal login is linked only by the invitation service, never by hand: linking a
    # record to someone else's login handed that login to whoever received the invitation.
    readonly_fields = ("user", "reminders")
    form = PatientAdminForm
    actions = ["invite_to_portal"]
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "date_of_birth", "user", "reminders")}),
        (pgettext_lazy("staff", "Contact"), {"fields": ("email", "phone", "time_zone")}),
        (
            pgettext_lazy("staff", "Reminders and consent"),
            {
                "fields": (
                    "reminders_by_email",
                    "reminders_by_sms",
                    "contact_consent_at",
                    "non_essential_opt_out",
                )
            },
        ),
        (
            pgettext_lazy("staff", "Medical"),
            {
                "fields": (
                    "medications",
                    "takes_prescribed_nsaid",
                    "prescribed_nsaid",
                    "allergies",
                    "notes",
                    "amendment_reason",
                )
            },
        ),
    )

    @admin.display(description=pgettext_lazy("staff", "Reminders"))
    def reminders(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:reminders_reminder_changelist")
        return format_html(
            '<a href="{}?session__patient__id__exact={}">{}</a>',
            url,
            obj.pk,
            pgettext("staff", "All reminders of this patient"),
        )

    def save_model(self, request, obj, form, change):
        """A change goes through patients.services.update_patient, like the front office's:
        the email under its rules, the old and new values kept, reminders re-planned."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        editable = {*services.EDITABLE_FIELDS, "email", "contact_consent_at"}
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        try:
            services.update_patient(
                patient=obj,
                changed_by=request.user,
                data=data,
                reason=form.cleaned_data.get("amendment_reason", ""),
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        obj.refresh_from_db()

    @admin.action(
        description=pgettext_lazy(
            "staff", "Invite to the portal (or reset an active account's password)"
        )
    )
    def invite_to_portal(self, request, queryset):
        for patient in queryset:
            try:
                invitation = invitations.invite_patient(patient=patient)
            except ValidationError as exc:
                self.message_user(request, f"{patient}: {exc.messages[0]}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    pgettext("staff", "%(patient)s: %(kind)s sent to %(address)s.")
                    % {"patient": patient, "kind": invitation.kind, "address": invitation.sent_to},
                )
