"""SMS patients send (the front desk's inbox), a patient's message log, and the phone
numbers kept as typed that staff must fix."""

from functools import lru_cache

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language, pgettext
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from patients.selectors import patient_by_id, phones_to_fix
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from reminders.models import (
    Channel,
    DeliveryStatus,
    InboundKind,
    InboundMessage,
    ReminderKind,
    ReminderState,
)
from ui.forms import page_number
from ui.pagination import Window, pager_html, window, window_of
from ui.rows import day_month_time, day_time, escaped, truncated

PER_PAGE = 25


@permission_required("reminders.read_inbox")
def inbox(request):
    page = window(reminder_selectors.inbox(), page_number(request.GET), PER_PAGE)
    return render(request, "staff/inbox.html", {"page": page, "pager": pager_html(page, "")})


@permission_required("reminders.read_inbox")
@require_POST
def inbox_mark_read(request, pk):
    message = get_object_or_404(InboundMessage, pk=pk)
    reminder_services.mark_inbound_read(message=message, by=request.user)
    messages.success(request, pgettext("staff", "Marked as read."))
    return redirect("inbox")


@permission_required("patients.view_patient")
def message_log(request, pk):
    patient = patient_by_id(pk)
    if patient is None:
        raise Http404("No such patient.")
    page = window_of(
        lambda start, stop: reminder_selectors.message_log_rows(
            patient.pk, offset=start, limit=stop - start
        ),
        page_number(request.GET),
        PER_PAGE,
    )
    return render(
        request,
        "staff/message_log.html",
        {
            "patient": patient,
            "page": page,
            "log_rows": _log_rows(page),
            "pager": pager_html(page, ""),
        },
    )


# Each row with the white space the template's {% for %} and {% if %}/{% with %} lines
# left around it.
_SENT_ROW = (
    "\n    \n    <tr><td>{at}</td><td>{sent}</td><td>{kind}</td><td>{channel}</td>\n"
    "      <td>{state}{note}</td>\n"
    "      <td>{delivery}\n"
    "        {attempts}</td>\n"
    "      <td><code>{provider_id}</code></td></tr>\n    \n  "
)
_RECEIVED_ROW = (
    "\n    \n    <tr><td>{at}</td><td>{received}</td><td>{body}</td><td>{sms}</td>\n"
    "      <td>{kind}{outcome}</td>\n"
    "      <td>{read}</td>\n"
    "      <td><code>{provider_id}</code></td></tr>\n    \n  "
)
_NO_ROW = "\n    \n  "  # an entry whose message is gone (the template wrote nothing)
_MUTED = ' <span class="text-muted">{}</span>'
_ATTEMPT = '<div class="text-muted">{} {}</div>'


@lru_cache(maxsize=8)
def _words(language: str | None) -> dict:
    """The log's labels and words in a language, escaped (staff read English): looked up
    once a process, not once a page."""
    choices = {
        "kinds": ReminderKind.choices,
        "channels": Channel.choices,
        "states": ReminderState.choices,
        "statuses": DeliveryStatus.choices,
        "inbound_kinds": InboundKind.choices,
    }
    words = {
        name: {value: escape(label) for value, label in pairs} for name, pairs in choices.items()
    }
    words.update(
        sent=escape(pgettext("staff", "sent")),
        received=escape(pgettext("staff", "received")),
        handed_over=escape(pgettext("staff", "handed over")),
        sms=escape(pgettext("staff", "SMS")),
        failed=pgettext("staff", "failed: %(error)s"),
        read=pgettext("staff", "read %(read_at)s"),
    )
    return words


def _log_rows(page: Window) -> SafeString:
    """The entries' rows (values from reminder_selectors.message_log_rows) once in Python,
    each value escaped as format_html escaped it (`escaped`; tests/test_sms.py pins the rows
    against the template's): the template spent most of the page on its cells (three date
    filters, four `get_…_display` and a `{% blocktranslate %}` a row). Dates and times are
    digits and English month names: nothing to escape."""
    words = _words(get_language())
    kinds, channels, states = words["kinds"], words["channels"], words["states"]
    statuses, inbound_kinds = words["statuses"], words["inbound_kinds"]
    rows = []
    for e in page:
        if r := e.reminder:
            if status := r["delivery_status"]:
                delivered = r["delivered_at"]
                delivery = statuses.get(status) or escaped(status)
                if delivered:
                    delivery += f" {day_month_time(delivered)}"
            else:
                delivery = "–"
            attempts = "".join(
                _ATTEMPT.format(
                    day_month_time(d["attempted_at"]),
                    words["handed_over"]
                    if d["succeeded"]
                    else words["failed"] % {"error": escaped(truncated(d["error"], 40))},
                )
                for d in r["deliveries"]
            )
            note = r["status_note"]
            rows.append(
                _SENT_ROW.format(
                    at=day_time(e.at),
                    sent=words["sent"],
                    kind=kinds.get(r["kind"]) or escaped(r["kind"]),
                    channel=channels.get(r["channel"]) or escaped(r["channel"]),
                    state=states.get(r["state"]) or escaped(r["state"]),
                    note=_MUTED.format(escaped(truncated(note, 60))) if note else "",
                    delivery=delivery,
                    attempts=attempts,
                    provider_id=escaped(r["provider_message_id"] or "–"),
                )
            )
        elif m := e.inbound:
            read_at = m["read_at"]
            rows.append(
                _RECEIVED_ROW.format(
                    at=day_time(e.at),
                    received=words["received"],
                    body=escaped(m["body"]),
                    sms=words["sms"],
                    kind=inbound_kinds.get(m["kind"]) or escaped(m["kind"]),
                    outcome=_MUTED.format(escaped(m["outcome"])) if m["outcome"] else "",
                    read=words["read"] % {"read_at": day_month_time(read_at)} if read_at else "–",
                    provider_id=escaped(m["provider_message_id"]),
                )
            )
        else:
            rows.append(_NO_ROW)
    return SafeString("".join(rows))


@permission_required("patients.change_patient")
def phone_numbers_to_fix(request):
    page = window(phones_to_fix(), page_number(request.GET), 50)
    return render(
        request, "staff/phones_to_fix.html", {"page": page, "pager": pager_html(page, "")}
    )
