"""Pagination that never counts the whole table: "previous / next" from LIMIT n+1."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.utils.formats import localize
from django.utils.safestring import SafeString
from django.utils.translation import get_language, pgettext

from .forms import MAX_PAGE
from .rows import escaped, staff_said


@dataclass
class Window:
    object_list: list
    number: int
    has_previous: bool
    has_next: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    def has_other_pages(self):
        return self.has_previous or self.has_next

    def previous_page_number(self):
        return self.number - 1

    def next_page_number(self):
        return self.number + 1


def window(queryset, number: int, per_page: int) -> Window:
    """Page `number` (parsed by ui.forms.page_number) of an ordered queryset: one query,
    however large the table. The number is clamped to 1..MAX_PAGE, so the OFFSET always fits
    in the database's integers."""
    return window_of(lambda start, stop: list(queryset[start:stop]), number, per_page)


def window_of(read: Callable[[int, int], list], number: int, per_page: int) -> Window:
    """`window` of rows read another way than by slicing a queryset (a statement compiled
    once, treatments.recall.due_rows): `read(start, stop)` returns rows start..stop - 1 of
    the ordered list."""
    number = min(max(1, number), MAX_PAGE)
    start = (number - 1) * per_page
    rows = read(start, start + per_page + 1)
    return Window(rows[:per_page], number, number > 1, len(rows) > per_page)


def pager_html(page, page_query: str) -> SafeString:
    """What `{% include "staff/_pagination.html" %}` writes for `page` (a Window or a
    Django Page) and `page_query`, in Python: its four translations and the tags around
    them cost a busy list page some 500 Python calls. tests/test_ui_forms.py compares it
    with the template for pages of both kinds."""
    if not page.has_other_pages():
        return SafeString("\n")
    words = _pager_words(get_language())
    query = f"&amp;{escaped(page_query)}" if page_query else ""
    parts = ["\n", words.nav_start]
    if _answer(page.has_previous):
        parts.append(_page_link(page.previous_page_number(), query, words.previous))
    parts.append('\n  <li class="page-item disabled"><span class="page-link">')
    parts.append(staff_said(words.page, number=page.number))
    paginator = getattr(page, "paginator", None)
    if paginator:
        parts.append(f" {staff_said(words.of, num_pages=paginator.num_pages)}")
    parts.append("</span></li>\n  ")
    if _answer(page.has_next):
        parts.append(_page_link(page.next_page_number(), query, words.next))
    parts.append("\n</ul></nav>\n\n")
    return SafeString("".join(parts))  # every value escaped, the words our markup


def _page_link(number: int, query: str, text: str) -> str:
    return (
        f'<li class="page-item"><a class="page-link" href="?page={localize(number)}{query}">'
        f"{text}</a></li>"
    )


def _answer(value):
    """An attribute as a template reads it: a method called (a Page's `has_next()`), a
    value as it is (a Window's `has_next`)."""
    return value() if callable(value) else value


@dataclass(frozen=True)
class _PagerWords:
    nav_start: str
    previous: str
    page: str  # "Page %(number)s"
    of: str  # "of %(num_pages)s"
    next: str


@lru_cache(maxsize=16)
def _pager_words(language: str | None) -> _PagerWords:
    """The pager's words in a language (a template's translated literals are HTML: here
    too), looked up once."""
    pages = pgettext("staff", "Pages")
    return _PagerWords(
        nav_start=f'<nav aria-label="{pages}"><ul class="pagination">\n  ',
        previous=pgettext("staff", "Previous"),
        page=pgettext("staff", "Page %(number)s"),
        of=pgettext("staff", "of %(num_pages)s"),
        next=pgettext("staff", "Next"),
    )
