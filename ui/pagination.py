"""Pagination that never counts the whole table: "previous / next" from LIMIT n+1."""

from collections.abc import Callable
from dataclasses import dataclass

from .forms import MAX_PAGE


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
