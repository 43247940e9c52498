"""Server-rendered progress charts (SVG, no JavaScript): hair density and the patient's rating.

Two small panels, each with its own labelled scale, rather than one chart with two scales:
a rating of 7 and a density of 70 hairs/cm² drawn on one axis read as the same height.
The panels are drawn in a 360-unit-wide box so that their text stays legible when the page
is 390 px wide (a phone); a table under them gives the same figures to screen readers and
to anyone who wants the numbers.
"""

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext, pgettext

from . import formatting
from .models import FollowUpKind

WIDTH, HEIGHT = 360, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 14, 30, 36
MIN_LABEL_GAP = 64  # x distance between two date labels, so they never overlap
RATING_TICKS = (1, 4, 7, 10)


@dataclass
class Tick:
    at: float  # position on the panel's own axis (y for values, x for dates)
    label: str


@dataclass
class Dot:
    x: float
    y: float
    label: str  # what a hover (and the table) says


@dataclass
class Panel:
    title: str
    unit: str
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    dots: list[Dot]

    @property
    def points(self) -> str:
        return " ".join(f"{d.x},{d.y}" for d in self.dots)


@dataclass
class Row:
    day: date
    kind: str
    density: Decimal | None
    rating: int | None


def nice_step(top: float, steps: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `steps` ticks."""
    raw = top / steps
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    return f"{value:g}"


def chart_day(day: date) -> str:
    """A date under a chart point and in the chart's table (formatted once per day and
    language, treatments.formatting)."""
    # Translators: a date under a chart point, in Django's date format letters (j M Y).
    return formatting.formatted_day(day, pgettext("chart date", "j M Y"))


def _x_positions(days: list[date]) -> dict[date, float]:
    first, last = min(days), max(days)
    inner = WIDTH - LEFT - RIGHT
    if first == last:
        return {first: LEFT + inner / 2}
    span = (last - first).days
    return {d: round(LEFT + inner * (d - first).days / span, 1) for d in days}


def _x_ticks(xs: dict[date, float]) -> list[Tick]:
    """Date labels under the dots, skipping any that would overlap its neighbour."""
    ticks: list[Tick] = []
    ordered = sorted(xs.items())
    for i, (day, x) in enumerate(ordered):
        is_last = i == len(ordered) - 1
        if ticks and x - ticks[-1].at < MIN_LABEL_GAP:
            if not is_last or len(ticks) == 1:
                continue
            ticks.pop()  # the last day matters more than the one before it
        ticks.append(Tick(x, chart_day(day)))
    return ticks


def _y(value: float, low: float, high: float) -> float:
    inner = HEIGHT - TOP - BOTTOM
    return round(HEIGHT - BOTTOM - inner * (value - low) / (high - low), 1)


def _panel(rows: list[Row], xs, pick, *, title, unit, low, high, ticks) -> Panel | None:
    on = gettext("%(value)s on %(day)s")  # translated once a panel, not once a dot
    dots = [
        Dot(
            xs[r.day],
            _y(float(v), low, high),
            on % {"value": unit % {"n": _fmt(float(v))}, "day": chart_day(r.day)},
        )
        for r in rows
        if (v := pick(r)) is not None
    ]
    if not dots:
        return None  # the template says "not measured yet" instead of an empty scale
    return Panel(
        title=title,
        unit=unit,
        y_ticks=[Tick(_y(t, low, high), _fmt(t)) for t in ticks],
        x_ticks=_x_ticks({r.day: xs[r.day] for r in rows if pick(r) is not None}),
        dots=dots,
    )


def progress_chart(follow_ups) -> dict | None:
    """The two panels and the table, or None when there is no follow-up to show at all."""
    # A follow-up's kind by its label: get_kind_display() would translate every kind's
    # label for each follow-up (Django's _get_FIELD_display hashes all the choices).
    kinds = dict(FollowUpKind.choices)
    rows = [
        Row(f.due_date, str(kinds.get(f.kind, f.kind)), f.hair_density_per_cm2, f.patient_rating)
        for f in follow_ups
    ]
    if not rows:
        return None
    rows.sort(key=lambda r: r.day)
    xs = _x_positions([r.day for r in rows])
    densities = [float(r.density) for r in rows if r.density is not None]
    step = nice_step(max(densities)) if densities and max(densities) > 0 else 1.0
    density_top = step * math.ceil(max(densities, default=0) / step) or step
    density_ticks = [step * i for i in range(round(density_top / step) + 1)]
    density = _panel(
        rows,
        xs,
        lambda r: r.density,
        title=gettext("Hair density (hairs per cm²)"),
        unit=gettext("%(n)s hairs/cm²"),
        low=0.0,
        high=density_top,
        ticks=density_ticks,
    )
    rating = _panel(
        rows,
        xs,
        lambda r: r.rating,
        title=gettext("Patient's own rating (1 to 10)"),
        unit="%(n)s/10",
        low=1.0,
        high=10.0,
        ticks=RATING_TICKS,
    )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "panels": [
            ("density", gettext("Hair density (hairs per cm²)"), "#0b5ed7", density),
            ("rating", gettext("Patient's own rating (1 to 10)"), "#146c43", rating),
        ],
        "rows": rows,
    }
