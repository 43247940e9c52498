"""SMS patients send (the front desk's inbox), a patient's message log, and the phone
numbers kept as typed that staff must fix."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from patients.models import Patient
from patients.selectors import phones_to_fix
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
from ui.forms import MAX_PAGE, page_number
from ui.pagination import Window, window
from ui.rows import day_month_time, day_time, staff_said

PER_PAGE = 25


@permission_required("reminders.read_inbox")
def inbox(request):
    page = window(reminder_selectors.inbox(), page_number(request.GET), PER_PAGE)
    return render(request, "staff/inbox.html", {"page": page})


@permission_required("reminders.read_inbox")
@require_POST
def inbox_mark_read(request, pk):
    message = get_object_or_404(InboundMessage, pk=pk)
    reminder_services.mark_inbound_read(message=message, by=request.user)
    messages.success(request, pgettext("staff", "Marked as read."))
    return redirect("inbox")


@permission_required("patients.view_patient")
def message_log(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    number = min(max(1, page_number(request.GET)), MAX_PAGE)
    entries = reminder_selectors.message_log(
        patient, offset=(number - 1) * PER_PAGE, limit=PER_PAGE + 1
    )
    page = Window(entries[:PER_PAGE], number, number > 1, len(entries) > PER_PAGE)
    _log_rows(page)
    return render(request, "staff/message_log.html", {"patient": patient, "page": page})


# Each row with the white space the template's {% if %}/{% with %} lines left around it.
_SENT_ROW = (
    "\n    <tr><td>{at}</td><td>{sent}</td><td>{kind}</td><td>{channel}</td>\n"
    "      <td>{state}{note}</td>\n"
    "      <td>{delivery}\n"
    "        {attempts}</td>\n"
    "      <td><code>{provider_id}</code></td></tr>\n    "
)
_RECEIVED_ROW = (
    "\n    <tr><td>{at}</td><td>{received}</td><td>{body}</td><td>{sms}</td>\n"
    "      <td>{kind}{outcome}</td>\n"
    "      <td>{read}</td>\n"
    "      <td><code>{provider_id}</code></td></tr>\n    "
)
_MUTED = ' <span class="text-muted">{}</span>'


def _log_rows(page) -> None:
    """Each entry's row once in Python, escaped by format_html (`e.row`), as the patient
    page's reminders: the template spent most of the page on its cells (three date filters,
    four `get_…_display` and a `{% blocktranslate %}` a row)."""
    kinds, channels = dict(ReminderKind.choices), dict(Channel.choices)
    states, statuses = dict(ReminderState.choices), dict(DeliveryStatus.choices)
    inbound_kinds = dict(InboundKind.choices)
    sent, received = pgettext("staff", "sent"), pgettext("staff", "received")
    handed_over, sms = pgettext("staff", "handed over"), pgettext("staff", "SMS")
    failed, read = pgettext("staff", "failed: %(error)s"), pgettext("staff", "read %(read_at)s")
    for e in page:
        if r := e.reminder:
            if r.delivery_status:
                delivered = f" {day_month_time(r.delivered_at)}" if r.delivered_at else ""
                delivery = statuses.get(r.delivery_status, r.delivery_status) + delivered
            else:
                delivery = "–"
            e.row = format_html(
                _SENT_ROW,
                at=day_time(e.at),
                sent=sent,
                kind=kinds.get(r.kind, r.kind),
                channel=channels.get(r.channel, r.channel),
                state=states.get(r.state, r.state),
                note=format_html(_MUTED, Truncator(r.status_note).chars(60))
                if r.status_note
                else "",
                delivery=delivery,
                attempts=format_html_join(
                    "",
                    '<div class="text-muted">{} {}</div>',
                    (
                        (
                            day_month_time(d.attempted_at),
                            handed_over
                            if d.succeeded
                            else staff_said(failed, error=Truncator(d.error).chars(40)),
                        )
                        for d in r.deliveries.all()
                    ),
                ),
                provider_id=r.provider_message_id or "–",
            )
        elif m := e.inbound:
            e.row = format_html(
                _RECEIVED_ROW,
                at=day_time(e.at),
                received=received,
                body=m.body,
                sms=sms,
                kind=inbound_kinds.get(m.kind, m.kind),
                outcome=format_html(_MUTED, m.outcome) if m.outcome else "",
                read=staff_said(read, read_at=day_month_time(m.read_at)) if m.read_at else "–",
                provider_id=m.provider_message_id,
            )
        else:
            e.row = ""


@permission_required("patients.change_patient")
def phone_numbers_to_fix(request):
    page = window(phones_to_fix(), page_number(request.GET), 50)
    return render(request, "staff/phones_to_fix.html", {"page": page})
