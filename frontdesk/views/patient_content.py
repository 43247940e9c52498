"""The staff patient page's content, written once in Python (issue 18).

The page was templates/staff/patient_detail.html with three partials (_medical_change,
_intake, _patient_changes): some fifty `{% translate %}`/`{% blocktranslate %}` tags, a
dozen `{% url %}` and the `date`, `default` and `linebreaksbr` filters, a third of the
page's Python calls. Here the same bytes are written with str.format: the words looked up
once per language a process (`_words`), the links reversed once (ui.rows.link_maker), every
value escaped as the template escaped it (ui.rows.escaped, `staff_said` for a
blocktranslate's values). The template and its partials are kept as the reference
(tests/reference/patient_detail.html): tests/test_patient_page_html.py renders it with the
view's context and compares the bytes."""

from functools import lru_cache

from django.template.defaultfilters import linebreaksbr
from django.utils.formats import date_format, localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import pgettext

from treatments.formatting import session_at
from ui.csrf import hidden_input
from ui.rows import (
    day_and_month,
    day_time,
    escaped,
    link_maker,
    padded_day,
    short_day,
    staff_said,
    truncated,
)
from ui.templatetags.clinic_clock import at_clinic


class _Words:
    """The page's words in the reader's language (a template's translated literals are
    HTML as they are: not escaped), and its links, once per `where` a process."""

    def __init__(self):
        self.links = {
            name: link_maker(name)
            for name in (
                "portal_invite",
                "patient_edit",
                "patient_consents",
                "patient_export",
                "patient_history",
                "patient_merge",
                "session_book",
                "patient_detail",
                "resolve_side_effect",
                "session_detail",
                "handle_change_request",
                "intake_review",
                "photo_compare",
                "follow_up_photo",
                "message_log",
            )
        }
        # Each msgid written out where makemessages finds it; the key is how the code asks.
        self.w = {
            "Send a new portal invitation": pgettext("staff", "Send a new portal invitation"),
            "Invite to the portal": pgettext("staff", "Invite to the portal"),
            "Edit the record": pgettext("staff", "Edit the record"),
            "Consents": pgettext("staff", "Consents"),
            "Export the patient's data": pgettext("staff", "Export the patient's data"),
            "History": pgettext("staff", "History"),
            "Merge a duplicate…": pgettext("staff", "Merge a duplicate…"),
            "Book a session": pgettext("staff", "Book a session"),
            "Merged record.": pgettext("staff", "Merged record."),
            ": its sessions and requests are there.": pgettext(
                "staff", ": its sessions and requests are there."
            ),
            "Side effect reported by the patient": pgettext(
                "staff", "Side effect reported by the patient"
            ),
            "What was done": pgettext("staff", "What was done"),
            "Dealt with": pgettext("staff", "Dealt with"),
            "The patient asks:": pgettext("staff", "The patient asks:"),
            "open the session": pgettext("staff", "open the session"),
            "Handled": pgettext("staff", "Handled"),
            "Contact and consent": pgettext("staff", "Contact and consent"),
            "no phone": pgettext("staff", "no phone"),
            "Reminders:": pgettext("staff", "Reminders:"),
            "email": pgettext("staff", "email"),
            "SMS": pgettext("staff", "SMS"),
            "none chosen (essential ones by email)": pgettext(
                "staff", "none chosen (essential ones by email)"
            ),
            "Consent:": pgettext("staff", "Consent:"),
            "not recorded": pgettext("staff", "not recorded"),
            "(essential messages only)": pgettext("staff", "(essential messages only)"),
            "Opted out of non-essential messages": pgettext(
                "staff", "Opted out of non-essential messages"
            ),
            "Medications": pgettext("staff", "Medications"),
            "None recorded": pgettext("staff", "None recorded"),
            "Allergies:": pgettext("staff", "Allergies:"),
            "Notes:": pgettext("staff", "Notes:"),
            "Next session": pgettext("staff", "Next session"),
            "Earliest date:": pgettext("staff", "Earliest date:"),
            "NSAID window now:": pgettext("staff", "NSAID window now:"),
            "Sessions and follow-ups": pgettext("staff", "Sessions and follow-ups"),
            "No sessions yet.": pgettext("staff", "No sessions yet."),
            "Progress": pgettext("staff", "Progress"),
            "No measurements yet.": pgettext("staff", "No measurements yet."),
            "Compare photos: before and after": pgettext(
                "staff", "Compare photos: before and after"
            ),
            "Reminders": pgettext("staff", "Reminders"),
            "Message log": pgettext("staff", "Message log"),
            "message log note": pgettext(
                "staff",
                ": every message sent and every SMS received, with its delivery status and the "
                "provider's id.",
            ),
            "Due": pgettext("staff", "Due"),
            "Message": pgettext("staff", "Message"),
            "Channel": pgettext("staff", "Channel"),
            "State": pgettext("staff", "State"),
            "Attempts": pgettext("staff", "Attempts"),
            "No reminders.": pgettext("staff", "No reminders."),
            "Amended": pgettext("staff", "Amended"),
            "Entered": pgettext("staff", "Entered"),
            "earlier entries": pgettext("staff", "earlier entries"),
            "Intake questionnaire": pgettext("staff", "Intake questionnaire"),
            "Not filled in.": pgettext("staff", "Not filled in."),
            "intake missing note": pgettext(
                "staff",
                "The patient fills it in in the portal; a first session cannot be completed "
                "without a reviewed intake.",
            ),
            "Waiting for a clinician's review.": pgettext(
                "staff", "Waiting for a clinician's review."
            ),
            "nothing.": pgettext("staff", "nothing."),
            "Medicines:": pgettext("staff", "Medicines:"),
            "none": pgettext("staff", "none"),
            "Medical history": pgettext("staff", "Medical history"),
            "Allergies": pgettext("staff", "Allergies"),
            "Smoking · alcohol": pgettext("staff", "Smoking · alcohol"),
            "Previous hair treatments": pgettext("staff", "Previous hair treatments"),
            "Goals": pgettext("staff", "Goals"),
            "Changes to the record": pgettext("staff", "Changes to the record"),
            "When": pgettext("staff", "When"),
            "Who": pgettext("staff", "Who"),
            "What": pgettext("staff", "What"),
            "Before": pgettext("staff", "Before"),
            "After": pgettext("staff", "After"),
            "No changes since registration.": pgettext("staff", "No changes since registration."),
        }
        self.export = self.w["Export the patient's data"]
        self.message_log = self.w["message log note"]
        self.pending = self.w["Waiting for a clinician's review."]
        # {% blocktranslate %}'s msgids (their values go in through staff_said)
        self.born = pgettext("staff", "born %(date_of_birth)s")
        self.merged_on = pgettext("staff", "This duplicate was merged on %(merged_at)s into")
        self.record_no = pgettext("staff", "record no. %(merged_into_id)s")
        self.asks = pgettext("staff", "%(kind)s of %(starts_at)s (%(requested_at)s)")
        self.time_zone = pgettext("staff", "Time zone: %(time_zone)s")
        self.language = pgettext("staff", "Language: %(language)s")
        self.consent_given = pgettext("staff", "given %(contact_consent_at)s")
        self.prescribed_nsaid = pgettext(
            "staff",
            "Prescribed NSAID: %(prescribed_nsaid)s. Never tell the patient simply to stop "
            "it: a clinician decides.",
        )
        self.nsaid_window = pgettext(
            "staff",
            "no NSAIDs from %(first_day)s through %(last_day)s; they may be resumed on "
            "%(resume_day)s.",
        )
        self.photo_alt = pgettext("staff", "%(view)s on %(due_date)s")
        self.changed_by = pgettext("staff", "by %(full_name)s on %(changed_at)s")
        self.version_sent = pgettext("staff", "Version %(number)s, sent %(submitted_at)s.")
        self.reviewed_by = pgettext("staff", "Reviewed by %(full_name)s, %(reviewed_at)s.")
        self.reconfirmed = pgettext(
            "staff", "The patient confirmed nothing changed: %(confirmed_at)s."
        )
        self.changed_since = pgettext("staff", "Changed since version %(number)s (reviewed):")
        self.medicine_added = pgettext("staff", "Medicine added: %(name)s")
        self.medicine_removed = pgettext("staff", "Medicine no longer listed: %(name)s")
        self.since = pgettext("staff", "since %(since)s")
        self.declares_nsaid = pgettext("staff", "Declares a prescribed NSAID: %(prescribed_nsaid)s")
        self.mark_reviewed = pgettext("staff", "Mark version %(number)s reviewed")
        self.reason = pgettext("staff", "Reason: %(reason)s")


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language and URLs the words and links depend on."""
    return _Words()


def _value(value) -> str:
    """`{{ value }}`: localized, then escaped (ui.rows.escaped for text, the most)."""
    if type(value) is str:
        return escaped(value)
    return conditional_escape(localize(value))


def _name(user) -> str:
    """`{{ user.get_full_name|default:user.username }}` ("" for no user, as the template)."""
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _breaks(text) -> str:
    """`{{ text|default:"–"|linebreaksbr }}`."""
    return linebreaksbr(text or "–", autoescape=True)


def content(c: dict, token: str, where: tuple[str, str, str]) -> SafeString:
    """The page's `{% block content %}`, from the view's context `c` (what the reference
    template reads) and the page's CSRF token."""
    w = _words(where)
    t, links = w.w, w.links
    patient, page = c["patient"], c["page"]
    pk = patient.pk
    csrf = hidden_input(token)
    out = []
    add = out.append

    # The head: name, date of birth, the buttons.
    invite = t["Send a new portal invitation"] if patient.user_id else t["Invite to the portal"]
    add(
        '\n<div class="d-flex flex-wrap align-items-center gap-2 mb-3">\n'
        f'  <h1 class="h3 mb-0 me-3">{escaped(patient.full_name)}</h1>\n'
        '  <span class="text-muted">'
        f"{staff_said(w.born, date_of_birth=padded_day(patient.date_of_birth))}</span>\n"
        f'  <form method="post" action="{links["portal_invite"](pk)}" class="ms-auto">'
        f"{csrf}\n"
        f'    <button class="btn btn-outline-primary" type="submit">{invite}</button>\n'
        "  </form>\n"
        f'  <a class="btn btn-outline-primary" href="{links["patient_edit"](pk)}">'
        f"{t['Edit the record']}</a>\n"
        '  <a class="btn btn-outline-secondary" id="consents-link" '
        f'href="{links["patient_consents"](pk)}">{t["Consents"]}</a>\n  '
    )
    if c["can_export"]:
        add(
            '<a class="btn btn-outline-secondary" id="export-data" '
            f'href="{links["patient_export"](pk)}">{w.export}</a>'
        )
    add("\n  ")
    if c["can_see_history"]:
        add(
            '<a class="btn btn-outline-secondary" id="history-link" '
            f'href="{links["patient_history"](pk)}">{t["History"]}</a>'
        )
    add("\n  ")
    merged_into = patient.merged_into_id
    if c["can_merge"] and not merged_into:
        add(
            f'<a class="btn btn-outline-secondary" href="{links["patient_merge"](pk)}">'
            f"{t['Merge a duplicate…']}</a>"
        )
    add("\n  ")
    if not merged_into:
        add(
            f'<a class="btn btn-primary" href="{links["session_book"](pk)}">'
            f"{t['Book a session']}</a>"
        )
    add("\n</div>\n")
    if merged_into:
        merged_on = staff_said(w.merged_on, merged_at=short_day(_local(patient.merged_at)))
        add(
            f'\n<div class="alert alert-secondary" id="merged-into"><strong>'
            f"{t['Merged record.']}</strong> {merged_on} "
            f'<a class="alert-link" href="{links["patient_detail"](merged_into)}">'
            f"{staff_said(w.record_no, merged_into_id=merged_into)}</a>"
            f"{t[': its sessions and requests are there.']}</div>\n"
        )
    add("\n")
    _side_effects(add, page, t, links, csrf)
    add("\n")
    _change_requests(add, page, w, links, csrf)
    add('\n<div class="row g-3">\n  <div class="col-lg-4">\n')
    _contact(add, patient, w)
    _medications(add, patient, c["medical_changes"], w)
    add("    ")
    _intake(add, c, w, csrf)
    add("\n")
    eligibility = page.eligibility
    add(
        '    <div class="card mb-3"><div class="card-body">\n'
        f'      <h2 class="h6">{t["Next session"]}</h2>\n'
        f'      <p class="mb-0" id="eligibility">{t["Earliest date:"]} <strong>'
        f"{_date(eligibility.earliest_day, 'l j F Y')}</strong><br>"
        f'<span class="small text-muted">{_value(eligibility.reason)}</span></p>\n'
        "    </div></div>\n    "
    )
    window = page.current_window
    if window:
        said = staff_said(
            w.nsaid_window,
            first_day=_date(window.first_day, "j F"),
            last_day=_date(window.last_day, "j F Y"),
            resume_day=_date(window.resume_day, "j F"),
        )
        add(
            '\n    <div class="alert alert-warning">\n'
            f"      <strong>{t['NSAID window now:']}</strong> {said}\n"
            "    </div>\n    "
        )
    add(
        '\n  </div>\n  <div class="col-lg-8">\n'
        f'    <h2 class="h5">{t["Sessions and follow-ups"]}</h2>\n    '
    )
    if page.sessions:
        for s in page.sessions:
            add(s.item)
    else:
        add(f'<p class="text-muted">{t["No sessions yet."]}</p>')
    add(f'\n\n    <h2 class="h5 mt-4">{t["Progress"]}</h2>\n    ')
    chart = c["chart"]
    if chart:
        add(f"\n    {chart}\n    ")
    else:
        add(f'<p class="text-muted">{t["No measurements yet."]}</p>')
    add("\n    ")
    if c["can_see_photos"]:
        _photos(add, page, pk, w, links)
    add(
        f'\n\n    <h2 class="h5 mt-4">{t["Reminders"]}</h2>\n'
        f'    <p class="small"><a href="{links["message_log"](pk)}">{t["Message log"]}</a>'
        f"{w.message_log}</p>\n"
        '    <div class="table-responsive" tabindex="0" role="region" '
        f'aria-label="{t["Reminders"]}"><table class="table table-sm small">\n'
        f"      <thead><tr><th>{t['Due']}</th><th>{t['Message']}</th><th>{t['Channel']}</th>"
        f"<th>{t['State']}</th><th>{t['Attempts']}</th><th></th></tr></thead>\n"
        "      <tbody>\n      "
    )
    reminders = c["reminders"]
    if reminders:
        for r in reminders:
            add(f"\n        {r.row}\n      ")
    else:
        add(f'<tr><td colspan="6" class="text-muted">{t["No reminders."]}</td></tr>')
    add("\n      </tbody>\n    </table></div>\n    ")
    _changes(add, c["changes"], w)
    add("\n  </div>\n</div>\n")
    return SafeString("".join(out))


def _local(instant):
    return None if instant is None else localtime(instant)


def _date(day, format: str) -> str:
    """`{{ day|date:format }}` for a day (not an instant), with the language's names."""
    return "" if day is None else date_format(day, format)


def _side_effects(add, page, t, links, csrf) -> None:
    for r in page.side_effect_reports:
        if r.resolved_at:
            continue
        done = t["What was done"]
        add(
            '\n<div class="alert alert-danger d-flex flex-wrap justify-content-between '
            'align-items-center gap-2 side-effect-report">\n'
            f"  <div><strong>{t['Side effect reported by the patient']}</strong> "
            f"({escaped(day_time(r.reported_at))}): {_value(r.description)}</div>\n"
            f'  <form method="post" action="{links["resolve_side_effect"](r.pk)}" '
            f'class="d-flex gap-2">{csrf}\n'
            f'    <label class="visually-hidden" for="note-{r.pk}">{done}</label>\n'
            f'    <input class="form-control form-control-sm" id="note-{r.pk}" name="note" '
            f'placeholder="{done}">\n'
            f'    <button class="btn btn-sm btn-light" type="submit">{t["Dealt with"]}</button>\n'
            "  </form>\n"
            "</div>\n"
        )


def _change_requests(add, page, w, links, csrf) -> None:
    t = w.w
    for c in page.change_requests:
        said = staff_said(
            w.asks,
            kind=c.get_kind_display().lower(),
            starts_at=session_at(c.session) if c.session else "",
            requested_at=day_and_month(_local(c.requested_at)),
        )
        message = f": “{_value(c.message)}”" if c.message else ""
        add(
            '\n<div class="alert alert-info d-flex flex-wrap justify-content-between '
            'align-items-center gap-2">\n'
            f"  <div><strong>{t['The patient asks:']}</strong> {said}{message}\n"
            f'    · <a class="alert-link" href="{links["session_detail"](c.session_id)}">'
            f"{t['open the session']}</a></div>\n"
            f'  <form method="post" action="{links["handle_change_request"](c.pk)}">{csrf}'
            f'<button class="btn btn-sm btn-light" type="submit">{t["Handled"]}</button></form>\n'
            "</div>\n"
        )


def _contact(add, patient, w) -> None:
    t = w.w
    phone = _value(patient.phone) if patient.phone else t["no phone"]
    by_email, by_sms = patient.reminders_by_email, patient.reminders_by_sms
    channels = (f"{t['email']} " if by_email else "") + (t["SMS"] if by_sms else "")
    if not by_email and not by_sms:
        channels += t["none chosen (essential ones by email)"]
    if patient.contact_consent_at:
        consent = staff_said(
            w.consent_given, contact_consent_at=padded_day(_local(patient.contact_consent_at))
        )
    else:
        consent = f"<strong>{t['not recorded']}</strong> {t['(essential messages only)']}"
    opted_out = (
        f"<br>{t['Opted out of non-essential messages']}" if patient.non_essential_opt_out else ""
    )
    add(
        '    <div class="card mb-3"><div class="card-body">\n'
        f'      <h2 class="h6">{t["Contact and consent"]}</h2>\n'
        f'      <p class="mb-1">{_value(patient.email)}<br>{phone}<br>'
        f"{staff_said(w.time_zone, time_zone=patient.time_zone)}<br>"
        f"{staff_said(w.language, language=patient.get_language_display())}</p>\n"
        f'      <p class="mb-0 small">{t["Reminders:"]} {channels}<br>\n'
        f"      {t['Consent:']} {consent}{opted_out}</p>\n"
        "    </div></div>\n"
    )


def _medical_change(change, line: str, w) -> str:
    """staff/_medical_change.html, its trailing newline included."""
    if not change:
        return "\n"
    t = w.w
    by = staff_said(
        w.changed_by, full_name=_name(change.changed_by), changed_at=at_clinic(change.changed_at)
    )
    reason = f" ({_value(change.reason)})" if change.reason else ""
    return (
        f'<p class="small text-muted mb-1 medical-change" id="changed-{line}">'
        f"{t['Amended'] if change.reason else t['Entered']} {by}{reason} · "
        f'<a href="#history">{t["earlier entries"]}</a></p>\n'
    )


def _medications(add, patient, changes, w) -> None:
    t = w.w
    nsaid = patient.takes_prescribed_nsaid
    add(
        f'    <div class="card mb-3 {"nsaid-prescribed" if nsaid else ""}">'
        '<div class="card-body">\n'
        f'      <h2 class="h6">{t["Medications"]}</h2>\n      '
    )
    if nsaid:
        said = staff_said(w.prescribed_nsaid, prescribed_nsaid=patient.prescribed_nsaid)
        add(f'<p class="text-danger fw-bold mb-1" id="prescribed-nsaid">{said}</p>')
    add(f"\n      {_medical_change(changes.get('prescribed_nsaid'), 'prescribed-nsaid', w)}\n")
    medications = (
        linebreaksbr(patient.medications, autoescape=True)
        if patient.medications
        else t["None recorded"]
    )
    add(f'      <p class="mb-1">{medications}</p>\n')
    add(f"      {_medical_change(changes.get('medications'), 'medications', w)}\n      ")
    if patient.allergies:
        allergies = linebreaksbr(patient.allergies, autoescape=True)
        add(f'<p class="mb-0"><strong>{t["Allergies:"]}</strong> {allergies}</p>')
    add(f"\n      {_medical_change(changes.get('allergies'), 'allergies', w)}\n      ")
    if patient.notes:
        notes = linebreaksbr(patient.notes, autoescape=True)
        add(f'<p class="mb-0"><strong>{t["Notes:"]}</strong> {notes}</p>')
    add(f"\n      {_medical_change(changes.get('notes'), 'notes', w)}\n    </div></div>\n")


def _medicine(said: str, name, dose, since, w) -> str:
    """A medicine line of the intake's diff: "Medicine added: X, dose, since when"."""
    text = staff_said(said, name=name)
    if dose:
        text += f", {_value(dose)}"
    if since:
        text += f", {staff_said(w.since, since=since)}"
    return text


def _intake(add, c, w, csrf) -> None:
    """staff/_intake.html (its trailing newline included)."""
    t = w.w
    intake = c["intake"]
    add(
        '\n<div class="card mb-3" id="intake"><div class="card-body">\n'
        f'  <h2 class="h6">{t["Intake questionnaire"]}</h2>\n  '
    )
    if not intake:
        add(
            '\n  <p class="mb-0 text-danger" id="intake-missing"><strong>'
            f"{t['Not filled in.']}</strong> "
            f"{t['intake missing note']}</p>\n  "
        )
        add("\n</div></div>\n")
        return
    sent = staff_said(
        w.version_sent, number=intake.number, submitted_at=at_clinic(intake.submitted_at)
    )
    add(f'\n  <p class="mb-1 small">{sent}\n  ')
    if intake.reviewed_at:
        by = intake.reviewed_by
        full_name = "" if by is None else (by.get_full_name() or by.get_username())
        reviewed = staff_said(
            w.reviewed_by, full_name=full_name, reviewed_at=at_clinic(intake.reviewed_at)
        )
        add(f'<span id="intake-reviewed">{reviewed}</span>\n  ')
    else:
        add(f'<strong class="text-danger" id="intake-pending">{w.pending}</strong>')
    add("\n  ")
    reconfirmations = intake.reconfirmations.all()
    last = reconfirmations[0] if reconfirmations else None
    if last:
        confirmed = staff_said(w.reconfirmed, confirmed_at=at_clinic(last.confirmed_at))
        add(f'<br><span id="intake-reconfirmed">{confirmed}</span>')
    add("</p>\n  ")
    diff = c["intake_diff"]
    if diff is not None:
        add(
            '\n  <div class="alert alert-warning small p-2" id="intake-diff"><strong>'
            f"{staff_said(w.changed_since, number=diff.since.number)}</strong>\n    "
        )
        if not diff:
            add(f" {t['nothing.']}")
        add('\n    <ul class="mb-0">\n    ')
        for label, old, new in diff.answers:
            add(
                f'<li class="intake-diff-answer">{_value(label)}: <del>{_value(old or "–")}'
                f"</del> → <ins>{_value(new or '–')}</ins></li>"
            )
        add("\n    ")
        for name, dose, since in diff.added:
            line = _medicine(w.medicine_added, name, dose, since, w)
            add(f'<li class="intake-diff-added">{line}</li>')
        add("\n    ")
        for name, dose, since in diff.removed:
            line = _medicine(w.medicine_removed, name, dose, since, w)
            add(f'<li class="intake-diff-removed">{line}</li>')
        add("\n    </ul>\n  </div>\n  ")
    add("\n  ")
    if intake.takes_prescribed_nsaid:
        said = staff_said(w.declares_nsaid, prescribed_nsaid=intake.prescribed_nsaid)
        add(f'<p class="text-danger fw-bold mb-1">{said}</p>')
    add(
        f'\n  <p class="mb-1"><strong>{t["Medicines:"]}</strong></p>\n'
        '  <ul class="mb-1" id="intake-medications">'
    )
    medications = intake.medications.all()
    for m in medications:
        line = _value(m.name)
        if m.dose:
            line += f", {_value(m.dose)}"
        if m.since:
            line += f", {staff_said(w.since, since=m.since)}"
        add(f"<li>{line}</li>")
    if not medications:
        add(f"<li>{t['none']}</li>")
    add(
        '</ul>\n  <dl class="mb-1 small">\n'
        f"    <dt>{t['Medical history']}</dt><dd>{_breaks(intake.medical_history)}</dd>\n"
        f"    <dt>{t['Allergies']}</dt><dd>{_breaks(intake.allergies)}</dd>\n"
        f"    <dt>{t['Smoking · alcohol']}</dt><dd>{_value(intake.get_smoking_display())} · "
        f"{_value(intake.get_alcohol_display())}</dd>\n"
        f"    <dt>{t['Previous hair treatments']}</dt>"
        f"<dd>{_breaks(intake.previous_hair_treatments)}</dd>\n"
        f"    <dt>{t['Goals']}</dt><dd>{_breaks(intake.goals)}</dd>\n"
        "  </dl>\n  "
    )
    if c["can_review_intake"] and not intake.reviewed_at:
        add(
            f'\n  <form method="post" action="{w.links["intake_review"](intake.pk)}">{csrf}\n'
            '    <button class="btn btn-sm btn-primary" type="submit" id="intake-review">'
            f"{staff_said(w.mark_reviewed, number=intake.number)}</button>\n"
            "  </form>\n  "
        )
    add("\n  \n</div></div>\n")


def _photos(add, page, pk, w, links) -> None:
    t = w.w
    add(
        f'\n    <p class="mt-2"><a href="{links["photo_compare"](pk)}" id="compare-link">'
        f"{t['Compare photos: before and after']}</a></p>\n"
        '    <div class="row g-2 photo-grid mt-2">\n    '
    )
    photo_link = links["follow_up_photo"]
    for f in page.follow_ups:
        for photo in f.photos.all():
            view = photo.get_view_display()
            alt = staff_said(w.photo_alt, view=view, due_date=short_day(f.due_date))
            add(
                '\n      <div class="col-6 col-md-3"><figure class="mb-0">'
                f'<img src="{photo_link(photo.pk)}" alt="{alt}">'
                f'<figcaption class="small text-muted">{_value(f.get_kind_display())} · '
                f"{_value(view)}</figcaption></figure></div>\n    "
            )
    add("\n    </div>\n    ")


def _changes(add, changes, w) -> None:
    """staff/_patient_changes.html."""
    t = w.w
    add(f'<h2 class="h5 mt-4" id="history">{t["Changes to the record"]}</h2>\n')
    if not changes:
        add(f'<p class="text-muted small">{t["No changes since registration."]}</p>\n')
        return
    add(
        '\n<div class="table-responsive"><table class="table table-sm small patient-changes">\n'
        f"  <thead><tr><th>{t['When']}</th><th>{t['Who']}</th><th>{t['What']}</th>"
        f"<th>{t['Before']}</th><th>{t['After']}</th></tr></thead>\n"
        "  <tbody>\n  "
    )
    for c in changes:
        when, who = escaped(day_time(c.changed_at)), _value(_name(c.changed_by))
        rows = c.rows()
        if not rows:
            note = f": {_value(c.note)}" if c.note else ""
            add(
                f'\n    <tr><td>{when}</td><td>{who}</td><td colspan="3">'
                f"{_value(c.get_kind_display())}{note}</td></tr>\n  "
            )
            continue
        last = len(rows) - 1
        for n, (label, old, new) in enumerate(rows):
            add("\n    <tr>")
            if n == 0:
                add(f'<td rowspan="{last + 1}">{when}</td><td rowspan="{last + 1}">{who}</td>')
            add(
                f"\n      <td>{_value(label)}</td><td>{_cut(old)}</td><td>{_cut(new)}</td></tr>\n"
                "    "
            )
            if n == last and c.reason:
                reason = staff_said(w.reason, reason=c.reason)
                add(
                    '<tr class="change-reason"><td colspan="5" class="text-muted">'
                    f"{reason}</td></tr>"
                )
            add("\n  ")
    add("\n  </tbody>\n</table></div>\n\n")


def _cut(value) -> str:
    """`{{ value|default_if_none:"–"|truncatechars:120 }}`."""
    return _value(truncated("–" if value is None else value, 120))
