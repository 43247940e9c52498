"""The recall list: patients due for their next session with nothing booked."""

from urllib.parse import urlencode

from django.shortcuts import render

from accounts.decorators import permission_required
from frontdesk.forms import DueForRecallForm
from treatments import recall
from ui.forms import page_number
from ui.pagination import window

from .common import now_and_today


@permission_required("treatments.add_treatmentsession")
def recall_list(request):
    form = DueForRecallForm(request.GET or None)
    weeks = form.weeks_or_default()
    _, today = now_and_today()
    page = window(
        recall.due_patients(today=today, within_weeks=weeks), page_number(request.GET), 50
    )
    return render(
        request,
        "staff/recall.html",
        {
            "page": page,
            "form": form,
            "weeks": weeks,
            "today": today,
            "page_query": urlencode({"weeks": weeks}),
        },
    )
