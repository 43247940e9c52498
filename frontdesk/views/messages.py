"""SMS patients send (the front desk's inbox), a patient's message log, and the phone
numbers kept as typed that staff must fix."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from patients.models import Patient
from patients.selectors import phones_to_fix
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from reminders.models import InboundMessage
from ui.forms import MAX_PAGE, page_number
from ui.pagination import Window, window

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
    return render(request, "staff/message_log.html", {"patient": patient, "page": page})


@permission_required("patients.change_patient")
def phone_numbers_to_fix(request):
    page = window(phones_to_fix(), page_number(request.GET), 50)
    return render(request, "staff/phones_to_fix.html", {"page": page})
