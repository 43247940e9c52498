"""A record's history: every change (the database's own event tables) and every read (the
access log), for clinic admins and clinicians."""

from dataclasses import dataclass
from functools import lru_cache
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
from ui.nav import where
from ui.pagination import Window, window, window_of
from ui.rows import escaped, escaper, link_maker, staff_said, truncated

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
    context = {
        **context,
        "events": events,
        "reads": reads,
        "event_rows": _event_rows(events, when),
        "read_rows": _read_rows(reads, when),
    }
    context["title"], context["content"] = _content(request, context, _words(where()))
    return render(request, "staff/history.html", context)


@dataclass(frozen=True)
class _Words:
    """The page's words in the reader's language (HTML, as a template's translated
    literals are) and its back links: the same on every request in a language, so looked
    up once (`_words`)."""

    title: str  # "History: %(subject)s"
    back: str
    to_session: str
    to_patient: str
    explained: str
    what_changed: str
    who_looked: str
    changes_head: str  # "What changed" and the changes' table to its <tbody>
    reads_head: str  # "Who looked" and the reads' table to its <tbody>
    changes_nav: str
    reads_nav: str
    newer: str
    page: str  # "Page %(number)s"
    older: str
    no_changes: str
    no_reads: str
    on_this_page: str
    links: dict  # url name -> link_maker


@lru_cache(maxsize=16)
def _words(where: tuple[str, str, str]) -> _Words:
    """`where`: ui.nav.where(), the language and URLs the words and links depend on. Each
    msgid as the template had it (tests/reference/history.html)."""

    def heads(*names: str) -> str:
        return "".join(f"<th>{name}</th>" for name in names)

    when, who, what = (
        pgettext("staff", "When"),
        pgettext("staff", "Who"),
        pgettext("staff", "What"),
    )
    return _Words(
        title=pgettext("staff", "History: %(subject)s"),
        back=pgettext("staff", "Back to the"),
        to_session=pgettext("staff", "session"),
        to_patient=pgettext("staff", "patient's page"),
        explained=pgettext(
            "staff",
            "Every change is recorded by the database itself, whatever made it, and can be "
            "neither edited nor deleted. Times are on the clinic's clock.",
        ),
        what_changed=pgettext("staff", "What changed"),
        who_looked=pgettext("staff", "Who looked"),
        changes_head=(
            '<div class="table-responsive"><table class="table table-sm small history-events">'
            "\n  <thead><tr>"
            + heads(
                when,
                who,
                what,
                pgettext("staff", "Field"),
                pgettext("staff", "Before"),
                pgettext("staff", "After"),
            )
            + "</tr></thead>\n  <tbody>\n  "
        ),
        reads_head=(
            '<div class="table-responsive"><table class="table table-sm small record-reads">'
            "\n  <thead><tr>"
            + heads(when, who, what, pgettext("staff", "Page"), pgettext("staff", "From"))
            + "</tr></thead>\n  <tbody>\n  "
        ),
        changes_nav=pgettext("staff", "Pages of changes"),
        reads_nav=pgettext("staff", "Pages of reads"),
        newer=pgettext("staff", "Newer"),
        page=pgettext("staff", "Page %(number)s"),
        older=pgettext("staff", "Older"),
        no_changes=pgettext("staff", "No changes recorded"),
        no_reads=pgettext("staff", "No reads recorded"),
        on_this_page=pgettext("staff", "on this page"),
        links={name: link_maker(name) for name in ("patient_detail", "session_detail")},
    )


def _content(request, c: dict, w: _Words) -> tuple[SafeString, SafeString]:
    """The page's title and content as staff/history.html wrote them (kept as
    tests/reference/history.html, compared byte for byte in tests/test_history.py): its
    two dozen translations, its URL and query-string tags cost more than the rows. Values
    escaped as the template escaped them; the translated literals are HTML, as there."""
    title = staff_said(w.title, subject=c["subject"])
    name, pk = c["back"]
    parts = [
        f'\n<h1 class="h3">{title}</h1>\n'
        f'<p><a href="{w.links[name](pk)}">{w.back} '
        f"{w.to_session if c.get('session') else w.to_patient}</a></p>\n"
        f'<p class="text-muted small">{w.explained}</p>\n\n'
        f'<h2 class="h5 mt-4" id="changes">{w.what_changed}</h2>\n'
    ]
    query = request.GET
    _list(parts, c["events"], c["event_rows"], w.changes_head, "page", "changes", w, query)
    parts.append(f'\n\n<h2 class="h5 mt-4" id="reads">{w.who_looked}</h2>\n')
    _list(parts, c["reads"], c["read_rows"], w.reads_head, "reads", "reads", w, query)
    parts.append("\n")
    return title, mark_safe("".join(parts))  # noqa: S308 (every value escaped)


def _list(parts: list, page: Window, rows: str, head: str, key: str, anchor: str, w, query):
    """One of the two lists: its table and pager, or that it has nothing (on this page)."""
    if not page:
        later = f" {w.on_this_page}" if page.number > 1 else ""
        empty = w.no_changes if key == "page" else w.no_reads
        parts.append(f'<p class="text-muted small">{empty}{later}.</p>')
        return
    parts.append(f"\n{head}{rows}\n  </tbody>\n</table></div>\n")
    if page.has_other_pages():
        label = w.changes_nav if key == "page" else w.reads_nav
        link = '<li class="page-item"><a class="page-link" href="{}#{}">{}</a></li>'
        newer = (
            link.format(_querystring(query, key, page.number - 1), anchor, w.newer)
            if page.has_previous
            else ""
        )
        older = (
            link.format(_querystring(query, key, page.number + 1), anchor, w.older)
            if page.has_next
            else ""
        )
        parts.append(
            f'\n<nav aria-label="{label}"><ul class="pagination">\n  {newer}\n'
            '  <li class="page-item disabled"><span class="page-link">'
            f"{staff_said(w.page, number=page.number)}</span></li>\n  {older}\n</ul></nav>\n"
        )
    parts.append("\n")


def _querystring(query, key: str, number: int) -> str:
    """`{% querystring key=number %}`: the request's query with `key` set, escaped."""
    params = query.copy()
    params[key] = number
    return escaped(f"?{params.urlencode()}")


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
