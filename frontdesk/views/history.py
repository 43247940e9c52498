"""A record's history: every change (the database's own event tables) and every read (the
access log), for clinic admins and clinicians."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import pgettext

from accounts import prepared
from accounts.decorators import permission_required
from audit import selectors
from audit.models import AccessKind, RecordAccess
from audit.web import note_read
from frontdesk.forms import HistoryPagesForm
from patients.selectors import patient_by_id
from treatments.formatting import when_maker
from treatments.models import TreatmentSession
from ui.pagination import Window, window, window_of
from ui.rows import escaper, staff_said, truncated

PER_PAGE = 25

# The session (as get_object_or_404 reads it) and the first page of who looked, read by
# statements compiled once a process: the page is opened at its first page of reads.
_read_session = prepared.PreparedGet(
    lambda pk: TreatmentSession.objects.select_related("patient").filter(pk=pk)
)
_READ_COLUMNS = ("at", "username", "kind", "path", "ip")


def _first_page(reads_of, **kinds: type) -> prepared.PreparedValues:
    return prepared.PreparedValues(
        lambda **ids: reads_of(**ids).values(*_READ_COLUMNS)[: PER_PAGE + 1], **kinds
    )


_FIRST_PATIENT_READS = _first_page(selectors.reads_of_patient, patient_id=int)
_FIRST_SESSION_READS = _first_page(selectors.reads_of_session, patient_id=int, session_id=int)


def _found(read, pk: int):
    found = read(pk)
    if found is None:
        raise Http404("No such record.")
    return found


@permission_required(selectors.HISTORY_PERMISSION)
def patient_history(request, pk):
    patient = _found(patient_by_id, pk)
    page, reads = HistoryPagesForm(request.GET).numbers()
    note_read(request, patient_id=patient.pk, kind=AccessKind.HISTORY)
    return _history_page(
        request,
        {"patient": patient, "subject": patient.full_name, "back": ("patient_detail", patient.pk)},
        events=window(selectors.patient_history(patient), page, PER_PAGE),
        reads=_reads(
            reads, _FIRST_PATIENT_READS, selectors.reads_of_patient, patient_id=patient.pk
        ),
    )


@permission_required(selectors.HISTORY_PERMISSION)
def session_history(request, pk):
    session = _found(_read_session.get, pk)
    page, reads = HistoryPagesForm(request.GET).numbers()
    note_read(request, patient_id=session.patient_id, kind=AccessKind.HISTORY, object_id=session.pk)
    return _history_page(
        request,
        {
            "patient": session.patient,
            "session": session,
            "subject": pgettext("staff", "Session of %(patient)s on %(day)s")
            % {"patient": session.patient.full_name, "day": f"{session.local_date:%d %b %Y}"},
            "back": ("session_detail", session.pk),
        },
        events=window(selectors.session_history(session), page, PER_PAGE),
        reads=_reads(
            reads,
            _FIRST_SESSION_READS,
            selectors.reads_of_session,
            patient_id=session.patient_id,
            session_id=session.pk,
        ),
    )


def _reads(number: int, first: prepared.PreparedValues, reads_of, **ids: int) -> Window:
    """Page `number` of who looked (rows as values): the first, the page as it opens, from
    the compiled statement (its PER_PAGE + 1 rows); a later one through the ORM."""

    def read(start: int, stop: int) -> list:
        if start == 0:
            return first.rows(**ids)
        return list(reads_of(**ids).values(*_READ_COLUMNS)[start:stop])

    return window_of(read, number, PER_PAGE)


def _history_page(request, context: dict, *, events: Window, reads: Window):
    when = when_maker(ZoneInfo(settings.CLINIC_TIME_ZONE))
    return render(
        request,
        "staff/history.html",
        {
            **context,
            "events": events,
            "reads": reads,
            "event_rows": _event_rows(events, when),
            "read_rows": _read_rows(reads, when),
        },
    )


# Each row with the white space the template's {% for %}/{% with %} lines left around it
# (and, in a value's cell, the newline that ended the value's template it once included).
_CHANGE = (
    "\n    <tr>{first}\n      <td>{field}</td>\n      <td>{before}</td>\n"
    "      <td>{after}</td></tr>\n    "
)
_FIRST_CELLS = (
    '<td rowspan="{n}">{at}</td><td rowspan="{n}">{actor}{ip}</td><td rowspan="{n}">{what}</td>'
)
_IP = '<br><span class="text-muted">{}</span>'
_NO_CHANGE = (
    "\n    <tr><td>{at}</td><td>{actor}</td><td>{what}</td>"
    '<td colspan="3" class="text-muted">{none}</td></tr>\n    '
)
_READ = (
    "\n    <tr><td>{at}</td><td>{username}</td><td>{kind}</td>"
    "<td><code>{path}</code></td><td>{ip}</td></tr>\n  "
)


def _event_rows(events: Window, when) -> SafeString:
    """The changes' rows once in Python, as the message log's: the template included a
    value's template twice a changed field and spent most of the page there (and on a
    `{% blocktranslate %}` and a date filter an event). Each value goes in escaped
    (ui.rows.escaper), the row is marked safe whole: format_html's escaping a value at a
    time, its names repeated on every row, cost as much as the template's filters."""
    said = pgettext("staff", "%(what)s no. %(object_id)s %(action)s")
    escaped = escaper()
    no_change = escaped(pgettext("staff", "no field changed"))

    def value(shown) -> str:
        """An instant on the clinic's clock, anything else cut at 200 characters."""
        text = when(shown) if getattr(shown, "tzinfo", None) else truncated(shown, 200)
        return escaped(text) + "\n"

    rows = []
    for e in events:
        at = escaped(when(e.at) if e.at else "")
        actor = escaped(e.actor)
        what = staff_said(said, what=e.what, object_id=e.object_id, action=e.action)
        rows.append("\n    ")
        if not e.changes:
            rows.append(_NO_CHANGE.format(at=at, actor=actor, what=what, none=no_change))
        for i, c in enumerate(e.changes):
            first = ""
            if i == 0:
                ip = e.context.get("ip")
                first = _FIRST_CELLS.format(
                    n=escaped(len(e.changes)),
                    at=at,
                    actor=actor,
                    ip=_IP.format(escaped(ip)) if ip else "",
                    what=what,
                )
            rows.append(
                _CHANGE.format(
                    first=first,
                    field=escaped(capfirst(c.field)),
                    before="" if c.before is None else value(c.before),
                    after=value(c.after),
                )
            )
        rows.append("\n  ")
    return mark_safe("".join(rows))  # noqa: S308 (every value put in escaped)


def _read_rows(reads: Window, when) -> SafeString:
    kinds = dict(RecordAccess._meta.get_field("kind").flatchoices)
    escaped = escaper()
    return mark_safe(  # noqa: S308 (every value put in escaped)
        "".join(
            _READ.format(
                at=escaped(when(r["at"]) if r["at"] else ""),
                username=escaped(r["username"]),
                kind=escaped(kinds.get(r["kind"], r["kind"])),
                path=escaped(truncated(r["path"], 80)),
                ip=escaped(r["ip"] or ""),
            )
            for r in reads
        )
    )
