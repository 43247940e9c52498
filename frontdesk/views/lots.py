"""Lots: stock and warnings, quarantine (hold and release), write-offs, and a recall with
its report (page and CSV)."""

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from accounts.decorators import permission_required
from audit.web import note_export
from frontdesk.forms import (
    LotReasonForm,
    RecallContactForm,
    RecallForm,
    UpcomingDaysForm,
    WriteOffForm,
)
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from treatments import files, selectors, services
from treatments.models import ProductLot, Recall, RecallRecipient

from .common import now_and_today
from .follow_ups import _csv_safe

VIEW_PERMISSION = "treatments.view_productlot"


@permission_required(VIEW_PERMISSION)
def lot_list(request):
    _, today = now_and_today()
    return render(request, "staff/lot_list.html", {"lots": selectors.lots_with_warnings(today)})


def _lot(pk) -> ProductLot:
    return get_object_or_404(ProductLot.objects.select_related("recall"), pk=pk)


@permission_required(VIEW_PERMISSION)
def lot_detail(request, pk):
    return _render_lot(request, _lot(pk))


@permission_required(VIEW_PERMISSION)
def lot_certificate(request, pk):
    """The lot's safety certificate as it was uploaded (in the admin), as a download: to
    signed-in staff who may see lots only, never as public media."""
    lot = get_object_or_404(ProductLot, pk=pk)
    if not lot.certificate_file:
        raise Http404("This lot has no certificate on file.")
    extension = lot.certificate_file.name.rsplit(".", 1)[-1].lower()
    return files.serve(
        lot.certificate_file,
        filename=f"certificate-lot-{lot.pk}.{extension}",
        content_type=files.content_type_of(lot.certificate_file.name),
        inline=False,
    )


def _render_lot(request, lot: ProductLot, forms=None):
    """The lot's page; `forms`: an action's form with its errors (then a 400)."""
    _, today = now_and_today()
    days_form = UpcomingDaysForm(request.GET or None)
    days = days_form.days_or_default()
    changes, write_offs = selectors.lot_page(lot)
    recall = getattr(lot, "recall", None)
    context = {
        "lot": lot,
        "warnings": selectors.lot_warnings(lot, today),
        "changes": changes,
        "write_offs": write_offs,
        "recall": recall,
        "days": days,
        "days_form": days_form,
        "upcoming": list(selectors.sessions_planned_with_lot(lot, today=today, days=days)),
        "hold_form": LotReasonForm(prefix="hold"),
        "release_form": LotReasonForm(prefix="release"),
        "write_off_form": WriteOffForm(prefix="write_off"),
        "recall_form": RecallForm(
            prefix="recall",
            initial={
                "message": "{product} lot {lot} has been recalled by its manufacturer as a "
                "precaution."
            },
        ),
    }
    context.update(forms or {})
    status = 400 if forms else 200
    return render(request, "staff/lot_detail.html", context, status=status)


def _lot_action(request, pk, *, form_class, prefix, act, done):
    """Parse the form, call the service, and go back to the lot (or show the form's errors
    on the lot's page)."""
    lot = _lot(pk)
    form = form_class(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            act(lot, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, done)
            return redirect("lot_detail", pk=lot.pk)
    return _render_lot(request, lot, forms={f"{prefix}_form": form})


@permission_required(services.HOLD_PERMISSION)
@require_POST
def lot_hold(request, pk):
    return _lot_action(
        request,
        pk,
        form_class=LotReasonForm,
        prefix="hold",
        act=lambda lot, data: services.hold_lot(lot=lot, reason=data["reason"], actor=request.user),
        done=pgettext(
            "staff", "The lot is on hold: it is refused at completion and offered nowhere."
        ),
    )


@permission_required(services.HOLD_PERMISSION)
@require_POST
def lot_release(request, pk):
    return _lot_action(
        request,
        pk,
        form_class=LotReasonForm,
        prefix="release",
        act=lambda lot, data: services.release_lot(
            lot=lot, reason=data["reason"], actor=request.user
        ),
        done=pgettext("staff", "The lot is released and may be used again."),
    )


@permission_required(services.WRITE_OFF_PERMISSION)
@require_POST
def lot_write_off(request, pk):
    return _lot_action(
        request,
        pk,
        form_class=WriteOffForm,
        prefix="write_off",
        act=lambda lot, data: services.write_off_vials(
            lot=lot, vials=data["vials"], reason=data["reason"], actor=request.user
        ),
        done=pgettext("staff", "The vials are written off."),
    )


@permission_required(services.RECALL_PERMISSION)
@require_POST
def lot_recall(request, pk):
    lot = _lot(pk)
    form = RecallForm(request.POST, prefix="recall")
    if form.is_valid():
        try:
            recall = reminder_services.start_recall(
                lot=lot, message=form.cleaned_data["message"], actor=request.user
            )
        except ValidationError as exc:
            form.add_error("message", exc)
        else:
            messages.success(
                request,
                pgettext(
                    "staff",
                    "The recall has started: every patient who received the lot is notified.",
                ),
            )
            return redirect("recall_report", pk=recall.pk)
    return _render_lot(request, lot, forms={"recall_form": form})


def _recall(pk) -> Recall:
    return get_object_or_404(Recall.objects.select_related("lot", "started_by"), pk=pk)


@permission_required(VIEW_PERMISSION)
def recall_report(request, pk):
    recall = _recall(pk)
    rows, counts = reminder_selectors.recall_report(recall)
    return render(
        request,
        "staff/recall_report.html",
        {"recall": recall, "rows": rows, "counts": counts, "contact_form": RecallContactForm()},
    )


@permission_required(services.CONTACT_PERMISSION)
@require_POST
def recall_contact(request, pk):
    recipient = get_object_or_404(RecallRecipient.objects.select_related("recall"), pk=pk)
    form = RecallContactForm(request.POST)
    if form.is_valid():
        try:
            services.record_recall_contact(
                recipient=recipient,
                contact=form.cleaned_data["contact"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, pgettext("staff", "Recorded."))
    else:
        messages.error(request, pgettext("staff", "Choose phoned or unreachable and add a note."))
    return redirect("recall_report", pk=recipient.recall_id)


@permission_required(services.RECALL_PERMISSION)
def recall_report_csv(request, pk):
    recall = _recall(pk)
    rows, counts = reminder_selectors.recall_report(recall)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="recall-{recall.lot.lot_number}-{recall.started_at:%Y%m%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow([f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()])
    writer.writerow(
        ["patient", "email", "phone", "sessions", "status", "notices sent", "failed", "note"]
    )
    for row in rows:
        r = row.recipient
        writer.writerow(
            [
                _csv_safe(r.patient.full_name),
                _csv_safe(r.patient.email),
                _csv_safe(r.patient.phone),
                "; ".join(
                    f"{s['date']} {s['vials']} vial(s) {_csv_safe(s['clinician'])}"
                    for s in r.sessions
                ),
                row.outcome,
                row.sent,
                row.failed,
                _csv_safe(r.contact_note),
            ]
        )
    note_export(request, patient_ids=[row.recipient.patient_id for row in rows])
    return response
