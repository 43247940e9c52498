"""Cheap cells for long tables (issue 18). In a Django template, `{% url %}` resolves the
URLconf again for every row and the `date` filter builds a formatter and looks up its
translations for every cell: a 50-row page spends most of its time there. A view of a hot
page prepares its rows' links and dates once in Python instead."""

import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import get_format, localize
from django.utils.functional import Promise
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.text import Truncator

_PLACEHOLDER = 2_147_483_647  # an id no row has: replaced by each row's own


def link_maker(name: str) -> Callable[[int], str]:
    """reverse(name, args=[pk]) for many pks, reversing once: the URL pattern's text with
    each pk put in the placeholder's place (pks are integers: nothing to quote)."""
    before, after = reverse(name, args=[_PLACEHOLDER]).split(str(_PLACEHOLDER))
    return lambda pk: f"{before}{int(pk)}{after}"


def decimal_maker() -> Callable[[Decimal], str]:
    """localize(value) for the many decimals of a page (a measurement a row), the language's
    decimal separator looked up once: number_format looks up three formats for each value.
    Without thousands grouping (USE_THOUSAND_SEPARATOR off, as here) a Decimal field's
    value is localized as its fixed-point text with that separator; with grouping, by
    localize itself."""
    if settings.USE_THOUSAND_SEPARATOR:
        return localize
    separator = get_format("DECIMAL_SEPARATOR")
    return lambda value: f"{value:f}".replace(".", separator)


def short_day(day: date | None, *, weekday: bool = False) -> str:
    """`{{ day|date:"j M Y" }}` (`"D j M Y"` with `weekday`) on a staff page (English, as
    ReaderLanguageMiddleware sets for staff); "" for no day, as the filter gives."""
    if day is None:
        return ""
    text = f"{day.day} {day:%b} {day.year}"
    return f"{day:%a} {text}" if weekday else text


def padded_day(day: date | None) -> str:
    """`{{ day|date:"d M Y" }}` on a staff page (a date of birth in a list)."""
    return "" if day is None else f"{day:%d} {day:%b} {day.year:04d}"


def day_and_month(day: date | None) -> str:
    """`{{ day|date:"j M" }}` on a staff page."""
    return "" if day is None else f"{day.day} {day:%b}"


def day_time(instant: datetime | None, zone=None) -> str:
    """`{{ instant|date:"j M Y H:i" }}` on a staff page: in the current time zone, as the
    filter shows it (`zone`: that zone, for a caller writing many rows)."""
    if instant is None:
        return ""
    local = timezone.localtime(instant, zone)
    return f"{local.day} {local:%b} {local.year} {local:%H:%M}"


def day_month_time(instant: datetime | None, zone=None) -> str:
    """`{{ instant|date:"j M H:i" }}` on a staff page (`zone` as for `day_time`)."""
    if instant is None:
        return ""
    local = timezone.localtime(instant, zone)
    return f"{local.day} {local:%b} {local:%H:%M}"


def staff_said(words: str, **values) -> SafeString:
    """`{% blocktranslate with … %}…{% endblocktranslate %}` in Python: `words`, already
    translated (a `pgettext(...)` call, so that makemessages finds its msgid), as they are,
    each value localized and escaped as the tag does."""
    said = {
        # Text (most values: a name, a day) as localize leaves it, escaped as
        # conditional_escape does (`escaped`), without its lazy-argument checks.
        name: escaped(value)
        if type(value) is str or type(value) is SafeString
        else conditional_escape(localize(value))
        for name, value in values.items()
    }
    return mark_safe(words % said)  # noqa: S308


def escaped(value) -> str:
    """Django's conditional_escape, the same text without its lazy wrappers (a long table
    calls it for every cell): HTML as it is, anything else escaped as Django's `escape`
    does it (html.escape of its text, quotes too)."""
    kind = type(value)
    if kind is str:  # most cells: a name, a day
        return value.translate(HTML_ESCAPES)
    if kind is SafeString:  # a cell written by row_html, a label escaped once a page
        return value
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return str(value).translate(HTML_ESCAPES)


def escaper() -> Callable[[Any], str]:
    """`escaped` for the many cells of one page, each distinct value escaped once (a page's
    cells repeat: the same users, kinds, addresses, fields). For rows written with
    str.format and marked safe once whole, every value put in through it."""
    done: dict[tuple[type, Any], str] = {}

    def once(value) -> str:
        key = (type(value), value)  # "a&b" and SafeString("a&b") are equal, not alike
        try:
            return done[key]
        except KeyError:
            text = done[key] = escaped(value)
            return text
        except TypeError:  # unhashable
            return escaped(value)

    return once


def row_html(template: str, /, *args, **kwargs) -> SafeString:
    """format_html(template, ...) for a table's rows and cells, each value escaped by
    `escaped`: Django's `escape` and `mark_safe` wrap each call in keep_lazy's check of
    its arguments, more than half of format_html's time on a 50-row page. (The text is
    made a SafeString as mark_safe makes it.)"""
    return SafeString(
        template.format(
            *map(escaped, args), **{name: escaped(value) for name, value in kwargs.items()}
        )
    )


def truncated(value, length: int) -> str:
    """`{{ value|truncatechars:length }}`: the filter builds a Truncator and looks up the
    translated ellipsis for every cell, though most texts are short. A text of at most
    `length` characters (once NFC-normalized, as the filter reads it) comes back as that
    normalized text, as from the filter; a longer one goes through the filter's Truncator.
    Safe text stays safe, as the filter keeps it."""
    text = str(value)
    cut = None
    if len(text) <= length:
        cut = text if text.isascii() else unicodedata.normalize("NFC", text)
    if cut is None or len(cut) > length:
        cut = Truncator(text).chars(length)
    return mark_safe(cut) if isinstance(value, SafeData) else cut  # noqa: S308 (it was safe)


# html.escape(text) (quotes too) as one table for str.translate: one call a cell, where
# html.escape makes six (itself and five str.replace), on pages that escape thousands.
HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})
