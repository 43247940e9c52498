"""Reminders that could not be delivered, and sending one again."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from reminders.models import Reminder
from ui.forms import page_number
from ui.pagination import pager_html, window


@permission_required("reminders.monitor_delivery")
def failed_reminders(request):
    page = window(reminder_selectors.failed_reminders(), page_number(request.GET), 50)
    return render(
        request, "staff/failed_reminders.html", {"page": page, "pager": pager_html(page, "")}
    )


@permission_required("reminders.change_reminder")
@require_POST
def reminder_resend(request, pk):
    reminder = get_object_or_404(
        Reminder.objects.select_related("session", "waitlist_offer"), pk=pk
    )
    try:
        reminder_services.resend(reminder, by=request.user.get_username())
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request, pgettext("staff", "The reminder will be sent again within a minute.")
        )
    return redirect("patient_detail", pk=reminder.patient.pk)
