"""Forms of the staff pages. They parse and validate input; the services decide.

A service refusal (a ValidationError with a code) is shown next to the field it concerns by
ui.forms.add_service_error, given this app's FIELD_FOR_CODE; the form keeps what the user
typed.
"""

import uuid
from datetime import date, datetime, timedelta
from datetime import time as datetime_time  # `time` is a form field's name below

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import pgettext, pgettext_lazy

from patients.models import Patient, born_from_1900
from patients.phones import country_choices
from patients.phones import parse as parse_phone
from patients.services import MEDICAL_FIELDS
from patients.validators import validate_no_bidi_controls
from treatments import recall
from treatments.models import (
    BookingRequest,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    PhotoView,
    Room,
)
from treatments.rules import add_months, local_day
from treatments.selectors import (
    CLINICIAN_NAME_FIELDS,
    clinician_name,
    clinicians,
    lot_warnings,
    usable_lots,
)
from treatments.services import clinic_tz
from treatments.validators import validate_photo
from ui.forms import MAX_PAGE, DayField, FastSelect, FieldFor, ValuesChoiceField
from ui.time_zones import TimeZoneField


def iso_date_input(**attrs) -> forms.DateInput:
    """A browser date picker: `<input type="date">` takes and shows only ISO days
    (2026-12-16), whatever the display format, so the value is written that way (a
    localised "16/12/2026" would leave the field blank)."""
    return forms.DateInput(format="%Y-%m-%d", attrs={"type": "date", **attrs})


def _slot_field(error: ValidationError) -> str | None:
    return (error.params or {}).get("what")  # "clinician" or "room"


# Which field a refusal code of the services the staff pages call belongs next to (None: above
# the form; a function: it depends on the error).
FIELD_FOR_CODE: dict[str, FieldFor] = {
    "session_gap": "day",
    "in_the_past": "day",
    "too_far_ahead": "day",
    "invalid_times": "duration",
    "not_a_clinician": "clinician",
    "nsaid_window_started": "nsaid_free_confirmed",
    "nsaid_review_required": "nsaid_decision",
    "decision_required": "decision",
    "lot_not_usable": "lot",
    "out_of_stock": "lot",
    "vials_required": "lot",
    "reason_required": "reason",
    "slot_taken": _slot_field,
    "outside_hours": "time",
    "clinician_absent": "clinician",
    "room_out_of_service": "room",
    "duplicate_email": "email",
    "possible_duplicate": "not_a_duplicate",
    "merge_gap_clash": None,
    "changed_meanwhile": None,
    "nothing_changed": None,
    "not_due_yet": None,
    "note_required": "note",
    "already_closed": None,
    "not_started": None,
    "invalid_status": None,
    "session_not_completed": None,
    "baseline_day_passed": None,
    "baseline_empty": None,
}


# The longest free text a front-office form takes (notes, reasons, decisions).
TEXT_MAX = 2000

# A booking further ahead than this asks for a confirmation (a mistyped year is likelier).
FAR_AHEAD_YEARS = 2

DURATIONS = [(30, "30 minutes"), (45, "45 minutes"), (60, "1 hour"), (90, "1½ hours")]


def _active_rooms():
    """The rooms a session can be booked in, with their site (its clock)."""
    return Room.objects.filter(is_active=True).select_related("site")


class SessionTimeForm(forms.Form):
    """Day, time, length, clinician and room: the parts of a booking and of a move."""

    day = DayField(widget=iso_date_input())
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    duration = forms.TypedChoiceField(choices=DURATIONS, coerce=int, initial=60, widget=FastSelect)
    # Options read as plain values, by a statement compiled once, and written without a
    # template per option: 200 of each at the 1,000,000-patient bench.
    clinician = ValuesChoiceField(
        source=clinicians, option_fields=CLINICIAN_NAME_FIELDS, option_label=clinician_name
    )
    room = ValuesChoiceField(source=_active_rooms, option_fields=("name",), option_label=str)
    nsaid_free_confirmed = forms.BooleanField(
        required=False,
        label=pgettext_lazy(
            "staff", "The patient confirms having taken no NSAID since the window's first day"
        ),
        help_text=pgettext_lazy(
            "staff", "Only needed at short notice, once the NSAID pause has already begun."
        ),
    )

    # Hidden until a day more than FAR_AHEAD_YEARS ahead is chosen (then a checkbox).
    far_ahead_confirmed = forms.BooleanField(
        required=False,
        label=pgettext_lazy("staff", "Yes, book it that far ahead"),
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, today: date | None = None, patient=None, user=None, **kwargs):
        """`patient` and `user` (the signed-in one): only the fields that apply to them are
        shown. Without them (a test, a tool) every field is there."""
        super().__init__(*args, **kwargs)
        self.today = today or local_day(timezone.now(), clinic_tz())
        if patient is not None:
            self._fields_for(patient, user)

    def _fields_for(self, patient, user) -> None:
        """A patient on a prescribed NSAID cannot confirm "no NSAID": a clinician decides
        instead (or the booking waits for the decision). Only a clinician may write it."""
        if patient.takes_prescribed_nsaid:
            self.fields.pop("nsaid_free_confirmed", None)
            if user is None or not user.has_perm("treatments.record_nsaid_decision"):
                self.fields.pop("nsaid_decision", None)
        else:
            self.fields.pop("nsaid_decision", None)
            self.fields.pop("await_nsaid_decision", None)

    def far_ahead_from(self) -> date:
        """The first day that counts as "far ahead": FAR_AHEAD_YEARS from today."""
        return add_months(self.today, 12 * FAR_AHEAD_YEARS)

    def clean(self):
        data = super().clean()
        day = data.get("day")
        if day and day > self.far_ahead_from() and not data.get("far_ahead_confirmed"):
            # Usually a mistyped year: ask before booking, without refusing.
            self.fields["far_ahead_confirmed"].widget = forms.CheckboxInput()
            self.add_error(
                "day",
                ValidationError(
                    pgettext_lazy(
                        "staff",
                        "%(day)s is more than %(years)s years ahead. Check the year; to book it "
                        "anyway, tick “Yes, book it that far ahead”.",
                    ),
                    code="far_ahead",
                    params={"day": f"{day:%A %d %B %Y}", "years": FAR_AHEAD_YEARS},
                ),
            )
        if data.get("day") and data.get("time"):
            # On the clock of the room's site (the clinic's, at a single site).
            tz = data["room"].site.tz if data.get("room") else clinic_tz()
            data["starts_at"] = datetime.combine(data["day"], data["time"], tzinfo=tz)
            data["ends_at"] = data["starts_at"] + timedelta(minutes=data.get("duration") or 60)
        return data


# Said on the booking and the move form alike.
OVERRIDE_HELP = pgettext_lazy(
    "staff",
    "Only where the clinic must: the site closed, the clinician absent or not "
    "working then, or the room out of service. Your name and reason are recorded.",
)


class OverrideMixin:
    """The explicit override of an availability refusal (`outside_hours`,
    `clinician_absent`, `room_out_of_service`): a checkbox (`override_availability`) and a
    reason (`override_reason`), declared by each form in its own words, passed to the
    service only when ticked (it stores both with who decided). For the booking and the move
    forms alike."""

    missing_reason = pgettext_lazy("staff", "Say why it must be booked then.")

    def clean(self):
        data = super().clean()  # type: ignore[misc]
        if data.get("override_availability") and not (data.get("override_reason") or "").strip():
            self.add_error("override_reason", self.missing_reason)  # type: ignore[attr-defined]
        return data

    def chosen_override_reason(self) -> str:
        """The reason to pass to the service: only when the override is ticked."""
        data = self.cleaned_data  # type: ignore[attr-defined]
        return (data.get("override_reason") or "") if data.get("override_availability") else ""


class BookingForm(OverrideMixin, SessionTimeForm):
    nsaid_decision = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Your decision on the prescribed NSAID"),
        help_text=pgettext_lazy(
            "staff",
            "Required at short notice for a patient on a prescribed NSAID, unless the "
            "booking waits for the decision.",
        ),
    )
    await_nsaid_decision = forms.BooleanField(
        required=False,
        label=pgettext_lazy(
            "staff", "Book it as waiting for the clinician's decision on the prescribed NSAID"
        ),
        help_text=pgettext_lazy(
            "staff",
            "At short notice. The session cannot be completed until a clinician has "
            "recorded the decision.",
        ),
    )
    notes = forms.CharField(
        required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )
    override_availability = forms.BooleanField(
        required=False,
        label=pgettext_lazy("staff", "Book it anyway, outside the opening hours or availability"),
        help_text=OVERRIDE_HELP,
    )
    override_reason = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why it must be booked then"),
    )
    booking_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class SlotPickForm(forms.Form):
    """The booking page's query: which site's free slots to list, and a slot picked from
    the list to fill the booking form with. Whatever does not parse is ignored."""

    site = forms.ModelChoiceField(queryset=None, required=False)
    day = DayField(required=False)
    time = forms.TimeField(required=False)
    clinician = forms.ModelChoiceField(queryset=None, required=False)
    room = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].label_from_instance = lambda site: site.name
        self.fields["clinician"].queryset = clinicians()
        self.fields["room"].queryset = Room.objects.filter(is_active=True).select_related("site")

    def site_or(self, default):
        return (self.is_valid() and self.cleaned_data.get("site")) or default

    def picked(self) -> dict:
        """The picked slot as the booking form's initial values ({} if none parses)."""
        if not self.is_valid():
            return {}
        names = ("day", "time", "clinician", "room")
        return {name: self.cleaned_data[name] for name in names if self.cleaned_data.get(name)}


class RescheduleForm(OverrideMixin, SessionTimeForm):
    """A move: as a booking's times, with the same explicit override of availability."""

    missing_reason = pgettext_lazy("staff", "Say why it must be moved then.")
    override_availability = forms.BooleanField(
        required=False,
        label=pgettext_lazy("staff", "Move it anyway, outside the opening hours or availability"),
        help_text=OVERRIDE_HELP,
    )
    override_reason = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why it must be moved then"),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why is it cancelled?"),
    )


class CloseSideEffectForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "What was done"),
        help_text=pgettext_lazy("staff", "E.g. called the patient, advice given, seen on ..."),
    )


class CloseChangeRequestForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Outcome, in words for the patient"),
        help_text=pgettext_lazy(
            "staff", "The patient sees this in the portal, e.g. “Moved to Friday 16 April, 10:00”."
        ),
    )


class NsaidDecisionForm(forms.Form):
    decision = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Decision on the prescribed NSAID"),
        help_text=pgettext_lazy(
            "staff",
            "E.g. continue as prescribed (agreed with cardiology), or pause from ... to ...",
        ),
    )
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why is the decision revised?"),
        help_text=pgettext_lazy("staff", "The earlier decision is kept in the session's history."),
    )

    def __init__(self, *args, revising: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if revising:
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]


class LotChoiceField(forms.ModelChoiceField):
    """A lot as the choice reads: with its stock and, where any, its warnings (expiring
    soon, low stock) as of the session's day."""

    day: date | None = None

    def label_from_instance(self, obj):
        label = pgettext("staff", "%(lot)s – %(vials)s vial(s) on hand") % {
            "lot": obj,
            "vials": obj.vials_on_hand,
        }
        warnings = lot_warnings(obj, self.day) if self.day else []
        return f"{label} – warning: {'; '.join(warnings)}" if warnings else label


class CompleteForm(forms.Form):
    lot = LotChoiceField(queryset=None, label=pgettext_lazy("staff", "Lot used"))
    vials = forms.IntegerField(min_value=1, max_value=10, initial=1)
    second_lot = LotChoiceField(
        queryset=None, required=False, label=pgettext_lazy("staff", "Second lot (if any)")
    )
    second_vials = forms.IntegerField(min_value=1, max_value=10, required=False)
    notes = forms.CharField(
        required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )
    side_effects = forms.CharField(
        required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, session, **kwargs):
        super().__init__(*args, **kwargs)
        lots = usable_lots(session.local_date)  # only usable lots are offered
        for name in ("lot", "second_lot"):
            self.fields[name].queryset = lots
            self.fields[name].day = session.local_date

    def vials_used(self):
        """Both lines as entered; a second line of the same lot is added to the first by
        the service (never dropped)."""
        data = self.cleaned_data
        used = [(data["lot"], data["vials"])]
        if data.get("second_lot"):
            used.append((data["second_lot"], data.get("second_vials") or 1))
        return used


class SessionRecordForm(CompleteForm):
    """Amend a completed session's record: opens with the recorded notes, side effects and
    vial lines (a line per lot; a third and further line appear only for a record that
    has them, e.g. made in the admin), and asks why. Only lots usable on the session day
    are offered, as when completing."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why is the record amended?"),
        help_text=pgettext_lazy(
            "staff", "The earlier version is kept and shown on the session's page with your reason."
        ),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, session, vials=(), **kwargs):
        """`vials`: the session's SessionVial rows as recorded (with their lots)."""
        vials = list(vials)
        initial = {
            "version": session.record_version,
            "notes": session.notes,
            "side_effects": session.side_effects,
        }
        names = [("lot", "vials"), ("second_lot", "second_vials")]
        names += [(f"lot_{n}", f"vials_{n}") for n in range(3, len(vials) + 1)]
        self.extra_lines = names[2:]
        for (lot_name, vials_name), line in zip(names, vials, strict=False):
            initial[lot_name], initial[vials_name] = line.lot_id, line.vials
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, session=session, **kwargs)
        for lot_name, vials_name in self.extra_lines:
            self.fields[lot_name] = forms.ModelChoiceField(
                queryset=self.fields["lot"].queryset,
                required=False,
                label=pgettext_lazy("staff", "Further lot"),
            )
            self.fields[vials_name] = forms.IntegerField(min_value=1, max_value=10, required=False)
        lines = [name for line in names for name in line]
        self.order_fields(lines)

    def vials_used(self):
        used = super().vials_used()
        for lot_name, vials_name in self.extra_lines:
            if self.cleaned_data.get(lot_name):
                used.append((self.cleaned_data[lot_name], self.cleaned_data.get(vials_name) or 1))
        return used


FINDING_FIELDS = (
    "seen_on",
    "notes",
    "side_effects",
    "hair_density_per_cm2",
    "shaft_thickness_um",
    "patient_rating",
    "shared_with_patient",
)


class FollowUpForm(forms.Form):
    """Record or amend a follow-up. Who saw the patient is the signed-in clinician, never a
    choice here. Without the findings permission only "missed" (attendance) is offered; on a
    recorded follow-up the form opens with the recorded values and asks why it is amended."""

    status = forms.ChoiceField(
        choices=[
            (FollowUpStatus.DONE, pgettext_lazy("staff", "Done")),
            (FollowUpStatus.MISSED, pgettext_lazy("staff", "Missed")),
        ],
        widget=forms.RadioSelect,
    )
    seen_on = DayField(
        required=False,
        widget=iso_date_input(),
        label=pgettext_lazy("staff", "Seen on"),
        help_text=pgettext_lazy(
            "staff", "The day the patient was actually seen (for a done follow-up)."
        ),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    side_effects = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    hair_density_per_cm2 = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=1000,
        decimal_places=1,
        label=pgettext_lazy("staff", "Hair density (hairs/cm²)"),
    )
    shaft_thickness_um = forms.DecimalField(
        required=False,
        min_value=1,
        max_value=500,
        decimal_places=1,
        label=pgettext_lazy("staff", "Shaft thickness (µm)"),
    )
    patient_rating = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10,
        label=pgettext_lazy("staff", "Patient's own rating (1–10)"),
    )
    shared_with_patient = forms.BooleanField(
        required=False, label=pgettext_lazy("staff", "Share notes and photos with the patient")
    )
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=pgettext_lazy("staff", "Why is the recorded follow-up amended?"),
        help_text=pgettext_lazy("staff", "The earlier version is kept and shown with your reason."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, follow_up, can_record_findings: bool, **kwargs):
        amending = follow_up.status in (FollowUpStatus.DONE, FollowUpStatus.MISSED)
        initial = {
            "version": follow_up.version,
            "status": FollowUpStatus.DONE,
            "seen_on": local_day(timezone.now(), clinic_tz()),
        }
        if amending:
            initial.update(
                status=follow_up.status,
                **{name: getattr(follow_up, name) for name in FINDING_FIELDS},
            )
        if not can_record_findings:
            initial["status"] = FollowUpStatus.MISSED
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.amending = amending
        if amending:
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]
        if can_record_findings:
            for view, label in PhotoView.choices:
                self.fields[f"photo_{view}"] = forms.ImageField(
                    required=False,
                    label=pgettext("staff", "Photo: %(view)s") % {"view": label},
                    validators=[validate_photo],
                )
        else:  # the front desk: attendance only
            self.fields["status"].choices = [
                (FollowUpStatus.MISSED, pgettext_lazy("staff", pgettext_lazy("staff", "Missed")))
            ]
            for name in FINDING_FIELDS:
                del self.fields[name]

    def findings(self) -> dict:
        return {name: self.cleaned_data[name] for name in FINDING_FIELDS if name in self.fields}

    def photos(self):
        return [
            (view, self.cleaned_data[f"photo_{view}"])
            for view, _ in PhotoView.choices
            if self.cleaned_data.get(f"photo_{view}")
        ]


class BaselineForm(FollowUpForm):
    """The session's day-0 baseline: a follow-up's findings and the standard photo views in
    their fixed order, without the status (it is done) or the day (the session's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, can_record_findings=True, **kwargs)
        del self.fields["status"]
        del self.fields["seen_on"]
        if self.amending:
            self.fields["reason"].label = pgettext_lazy(
                "staff", "Why is the recorded baseline amended?"
            )


class ReviewFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("overdue", pgettext_lazy("staff", "Overdue")),
            ("due_now", pgettext_lazy("staff", "Due now")),
            ("week", pgettext_lazy("staff", "Due this week")),
            ("upcoming", pgettext_lazy("staff", "Upcoming")),
            ("missed", pgettext_lazy("staff", "Missed")),
            ("done", pgettext_lazy("staff", "Done")),
            ("all", pgettext_lazy("staff", "All")),
        ],
        required=False,
        widget=FastSelect,
    )
    kind = forms.ChoiceField(
        choices=[("", pgettext_lazy("staff", "Any kind")), *FollowUpKind.choices],
        required=False,
        widget=FastSelect,
    )
    # Options read as plain values, by a statement compiled once (as the booking form's).
    clinician = ValuesChoiceField(
        source=clinicians,
        option_fields=CLINICIAN_NAME_FIELDS,
        option_label=clinician_name,
        required=False,
        empty_label=pgettext_lazy("staff", "Any clinician"),
    )
    date_from = DayField(required=False, widget=iso_date_input())
    date_to = DayField(required=False, widget=iso_date_input())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data.get("status") == "due":  # a link from before "Due now" and "Upcoming"
            self.fields["status"].choices = [
                *self.fields["status"].choices,
                ("due", pgettext_lazy("staff", "Due today or later")),
            ]


def _rooms_in_use():
    """The rooms the schedule filters by: the active ones."""
    return Room.objects.filter(is_active=True)


class ScheduleForm(forms.Form):
    """The schedule's query: a field that does not parse is ignored (today, everyone)."""

    day = DayField(required=False)
    view = forms.ChoiceField(
        choices=[("day", pgettext_lazy("staff", "Day")), ("week", pgettext_lazy("staff", "Week"))],
        required=False,
    )
    # The filter's selects, options as plain values (200 of each at the 1,000,000-patient bench)
    # read by statements compiled once a process (`source`).
    clinician = ValuesChoiceField(
        source=clinicians,
        required=False,
        option_fields=CLINICIAN_NAME_FIELDS,
        option_label=clinician_name,
        empty_label=pgettext_lazy("staff", "All clinicians"),
        widget=FastSelect(attrs={"id": "f-clinician", "class": "form-select form-select-sm"}),
    )
    room = ValuesChoiceField(
        source=_rooms_in_use,
        required=False,
        option_fields=("name",),
        option_label=str,
        empty_label=pgettext_lazy("staff", "All rooms"),
        widget=FastSelect(attrs={"id": "f-room", "class": "form-select form-select-sm"}),
    )

    def parsed(self) -> dict:
        """The fields that parsed (an invalid one is simply left out)."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


# The time a chosen day is previewed at when no time is chosen yet.
PREVIEW_TIME = datetime_time(10, 0)


class PreviewForm(forms.Form):
    """The booking page's live preview: a day and (optionally) a time and the room, whose
    site's clock the day and time are on (the clinic's when no room parses)."""

    day = DayField()
    time = forms.TimeField(required=False)
    room = forms.ModelChoiceField(queryset=Room.objects.select_related("site"), required=False)

    def site_tz(self):
        room = self.is_valid() and self.cleaned_data.get("room")
        return room.site.tz if room else clinic_tz()

    def day_and_time(self) -> tuple[date | None, datetime_time]:
        """The day and time chosen (PREVIEW_TIME when no time is given); no day when the day
        or the time does not parse, and the preview then shows only the eligibility."""
        if not self.is_valid():
            return None, PREVIEW_TIME
        return self.cleaned_data["day"], self.cleaned_data["time"] or PREVIEW_TIME


class MarkMissedForm(forms.Form):
    """The review's "mark as missed": the ticked follow-ups and the page to go back to."""

    follow_up = forms.ModelMultipleChoiceField(
        queryset=FollowUp.objects.select_related("session"), required=False
    )
    next = forms.CharField(required=False, max_length=2000)


# --- Patients ------------------------------------------------------------------------------


class PatientForm(forms.ModelForm):
    """Registration: the fields; patients.services.register_patient decides."""

    time_zone = TimeZoneField(label=pgettext_lazy("staff", "Time zone where the patient lives"))
    country = forms.ChoiceField(
        choices=country_choices,
        required=False,  # left out: the record's country, or the clinic's for a new one
        label=pgettext_lazy("staff", "Country"),
        help_text=pgettext_lazy(
            "staff", "A phone number typed without a country code is read as one of this country."
        ),
    )
    contact_consent = forms.BooleanField(
        required=False,
        label=pgettext_lazy(
            "staff", "The patient agrees to be contacted about their care (reminders)"
        ),
    )
    # Shown only once registration found a patient with the same name and date of birth.
    not_a_duplicate = forms.BooleanField(
        required=False,
        widget=forms.HiddenInput,
        label=pgettext_lazy(
            "staff", "I have checked: this is a different person, register a new record"
        ),
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "country",
            "time_zone",
            "language",
            "reminders_by_email",
            "reminders_by_sms",
            "non_essential_opt_out",
            "medications",
            "takes_prescribed_nsaid",
            "prescribed_nsaid",
            "allergies",
            "notes",
        ]
        labels = {  # plain words, not the field names (issue 12, item 17)
            "reminders_by_email": pgettext_lazy("staff", "Reminders by email"),
            "reminders_by_sms": pgettext_lazy("staff", "Reminders by SMS"),
            "non_essential_opt_out": pgettext_lazy("staff", "Only essential messages"),
            "takes_prescribed_nsaid": pgettext_lazy("staff", "Takes a prescribed NSAID"),
            "prescribed_nsaid": pgettext_lazy("staff", "Prescribed NSAID and dose"),
            "language": pgettext_lazy("staff", "Language the patient reads"),
        }
        help_texts = {
            "language": pgettext_lazy(
                "staff",
                "Their portal, reminders (email and SMS), calendar files and consents "
                "are in it (consents where the clinic has that version, else English).",
            ),
        }
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "medications": forms.Textarea(attrs={"rows": 2}),
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].initial = settings.CLINIC_TIME_ZONE
        self.fields["country"].initial = settings.CLINIC_COUNTRY
        # The model's rules (patients.models) hold on every write path; the form states the
        # ones it can check alone, so the error shows next to the field before the service.
        for name in ("first_name", "last_name"):
            self.fields[name].validators.append(validate_no_bidi_controls)
        self.fields["date_of_birth"].validators.append(born_from_1900)
        # Left out (an older form, a script): the record's language stays as it is.
        self.fields["language"].required = False

    def clean_language(self):
        return self.cleaned_data.get("language") or self.instance.language or "en"

    def clean_country(self):
        return self.cleaned_data.get("country") or (
            self.instance.country if self.instance.pk else settings.CLINIC_COUNTRY
        )

    def clean(self):
        cleaned = super().clean()
        phone, country = (cleaned.get("phone") or "").strip(), cleaned.get("country")
        unchanged = self.instance.pk and (phone, country) == (
            self.instance.phone,
            self.instance.country,
        )
        if phone and country and not unchanged and parse_phone(phone, region=country) is None:
            self.add_error(
                "phone",
                ValidationError(
                    pgettext_lazy(
                        "staff",
                        "%(phone)s is not a valid phone number in %(country)s. Type it with its "
                        "country code if it is from another country (e.g. +44 20 7946 0958).",
                    ),
                    code="invalid_phone",
                    params={"phone": phone, "country": country},
                ),
            )
        return cleaned

    def ask_to_confirm_not_a_duplicate(self):
        self.fields["not_a_duplicate"].widget = forms.CheckboxInput()

    def _post_clean(self):
        # Model validation happens in the service, which reports errors by field.
        pass


class PatientEditForm(PatientForm):
    """Editing a registered patient: the registration fields, opened with the recorded
    values; patients.services.update_patient decides and keeps the history."""

    # The record's updated_at when the form was opened (ISO text, exact to the microsecond):
    # a save by someone else in between is refused instead of silently overwritten.
    loaded_at = forms.CharField(widget=forms.HiddenInput, max_length=64)
    # Shown only when medical information is on file: changing it then needs a reason
    # (patients.services.update_patient decides whether this edit changes any).
    reason = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=pgettext_lazy("staff", "Why is the medical information changed?"),
        help_text=pgettext_lazy(
            "staff",
            "Needed when you change or clear medications, the prescribed NSAID, "
            "allergies or notes already on file; the earlier entry is kept with your reason.",
        ),
    )

    def __init__(self, *args, instance: Patient, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        del self.fields["not_a_duplicate"]
        if not any(getattr(instance, name) for name in MEDICAL_FIELDS):
            del self.fields["reason"]
        # A zone already on file stays valid until changed (geographic zones only otherwise).
        self.fields["time_zone"] = TimeZoneField(
            label=self.fields["time_zone"].label, current=instance.time_zone
        )
        self.fields["time_zone"].initial = instance.time_zone
        self.fields["contact_consent"].initial = instance.contact_consent_at is not None
        self.fields["loaded_at"].initial = instance.updated_at.isoformat()
        self.fields["email"].help_text = pgettext_lazy(
            "staff",
            "Also the portal sign-in. Once the patient uses the portal, only a clinic admin "
            "may change it; the old address is told.",
        )

    def clean_loaded_at(self):
        try:
            loaded_at = datetime.fromisoformat(self.cleaned_data["loaded_at"])
        except ValueError:
            raise ValidationError(
                pgettext_lazy("staff", "Reload the page and edit again."), code="invalid"
            ) from None
        if loaded_at.tzinfo is None:
            raise ValidationError(
                pgettext_lazy("staff", "Reload the page and edit again."), code="invalid"
            )
        return loaded_at


class MergeForm(forms.Form):
    """Merge this (duplicate) record into another: the kept record's number, and the
    admin's confirmation that both are the same person."""

    kept = forms.ModelChoiceField(
        queryset=Patient.objects.filter(merged_into__isnull=True),
        widget=forms.NumberInput,
        label=pgettext_lazy("staff", "Number of the record to keep"),
        error_messages={
            "invalid_choice": pgettext_lazy("staff", "No active patient record has that number.")
        },
    )
    same_person = forms.BooleanField(
        label=pgettext_lazy(
            "staff",
            "I have checked that both records are the same person (name, date of birth, contact)",
        )
    )


class PatientSearchForm(forms.Form):
    """The patient list's search box."""

    q = forms.CharField(required=False, max_length=200)


class HistoryPagesForm(forms.Form):
    """The history page's two page numbers: `page` of the changes, `reads` of who looked.
    Anything but a positive whole number is page 1; a huge one is ui.forms.MAX_PAGE."""

    page = forms.IntegerField(required=False, min_value=1)
    reads = forms.IntegerField(required=False, min_value=1)

    def numbers(self) -> tuple[int, int]:
        self.is_valid()  # a bad `reads` does not reset the changes' page: keep what parsed
        good = self.cleaned_data
        return (
            min(good.get("page") or 1, MAX_PAGE),
            min(good.get("reads") or 1, MAX_PAGE),
        )


# --- Lots -------------------------------------------------------------------------------------


class LotReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_no_bidi_controls],
    )


class WriteOffForm(forms.Form):
    vials = forms.IntegerField(
        min_value=1, max_value=100_000, label=pgettext_lazy("staff", "Vials written off")
    )
    reason = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=pgettext_lazy("staff", "Wasted, broken, destroyed: what happened."),
        validators=[validate_no_bidi_controls],
    )


class RecallForm(forms.Form):
    message = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        label=pgettext_lazy("staff", "Message to every patient who received the lot"),
        help_text=pgettext_lazy(
            "staff",
            "{product} and {lot} are filled in. Sent by email and/or SMS as each patient "
            "chose, also to patients who opted out of other messages.",
        ),
        validators=[validate_no_bidi_controls],
    )


class RecallContactForm(forms.Form):
    contact = forms.ChoiceField(
        choices=[
            ("phoned", pgettext_lazy("staff", "Phoned: reached")),
            ("unreachable", pgettext_lazy("staff", "Unreachable")),
        ]
    )
    note = forms.CharField(max_length=TEXT_MAX, validators=[validate_no_bidi_controls])


class UpcomingDaysForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=90, required=False, initial=14)

    def days_or_default(self) -> int:
        return (self.cleaned_data.get("days") or 14) if self.is_valid() else 14


# --- The recall list of due patients ---------------------------------------------------------


class DueForRecallForm(forms.Form):
    """The recall list's query: how many weeks ahead a patient may be due (else the default)."""

    weeks = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=recall.MAX_WEEKS,
        label=pgettext_lazy("staff", "Due within (weeks)"),
    )

    def weeks_or_default(self) -> int:
        if self.is_valid() and self.cleaned_data["weeks"] is not None:
            return self.cleaned_data["weeks"]
        return recall.DEFAULT_WEEKS


class BookingRequestPickForm(forms.Form):
    request = forms.ModelChoiceField(
        queryset=BookingRequest.objects.filter(handled_at__isnull=True)
    )


class DeclineBookingForm(forms.Form):
    outcome = forms.CharField(
        max_length=TEXT_MAX,
        label=pgettext_lazy("staff", "Why declined (the patient reads it)"),
        required=True,
    )
