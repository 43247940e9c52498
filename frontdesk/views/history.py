"""A record's history: every change (the database's own event tables) and every read (the
access log), for clinic admins and clinicians."""

from django.conf import settings
from django.shortcuts import get_object_or_404, render
from django.utils.translation import pgettext

from accounts.decorators import permission_required
from audit import selectors
from audit.models import AccessKind
from audit.web import note_read
from frontdesk.forms import HistoryPagesForm
from patients.models import Patient
from treatments.models import TreatmentSession
from ui.pagination import window

PER_PAGE = 25


@permission_required(selectors.HISTORY_PERMISSION)
def patient_history(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    page, reads = HistoryPagesForm(request.GET).numbers()
    note_read(request, patient_id=patient.pk, kind=AccessKind.HISTORY)
    return render(
        request,
        "staff/history.html",
        {
            "patient": patient,
            "subject": patient.full_name,
            "back": ("patient_detail", patient.pk),
            "events": window(selectors.patient_history(patient), page, PER_PAGE),
            "reads": window(selectors.patient_reads(patient), reads, PER_PAGE),
            "clinic_zone": settings.CLINIC_TIME_ZONE,
        },
    )


@permission_required(selectors.HISTORY_PERMISSION)
def session_history(request, pk):
    session = get_object_or_404(TreatmentSession.objects.select_related("patient"), pk=pk)
    page, reads = HistoryPagesForm(request.GET).numbers()
    note_read(request, patient_id=session.patient_id, kind=AccessKind.HISTORY, object_id=session.pk)
    return render(
        request,
        "staff/history.html",
        {
            "patient": session.patient,
            "session": session,
            "subject": pgettext("staff", "Session of %(patient)s on %(day)s")
            % {"patient": session.patient.full_name, "day": f"{session.local_date:%d %b %Y}"},
            "back": ("session_detail", session.pk),
            "events": window(selectors.session_history(session), page, PER_PAGE),
            "reads": window(selectors.session_reads(session), reads, PER_PAGE),
            "clinic_zone": settings.CLINIC_TIME_ZONE,
        },
    )
