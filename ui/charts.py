"""The progress chart's markup (treatments.charts computes the chart), written in Python.

As a template (`_progress_chart.html`) it cost the patient page more CPU than any other
part of its rendering: a `{% for %}` per tick and dot, each value resolved and localized
by the template engine. Here it is the same bytes (tests/test_charts.py compares them with
the template it replaces, kept there as the reference, in three languages): the SVG's
numbers unlocalized (the template's `{% localize off %}`), the table's figures localized,
every text escaped (`esc`) before it is put in its place."""

from django.conf import settings
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from treatments.charts import chart_day, progress_chart
from ui.rows import escaped as esc  # conditional_escape's bytes, without its lazy checks

_FIGURE = '\n  <figure class="progress-panel mb-0" id="chart-{key}">\n    {body}\n  </figure>\n'
_EMPTY = '\n    <p class="border rounded p-3 mb-0 text-muted chart-empty">{said}</p>\n    '
_SVG = (
    '\n    <svg viewBox="0 0 {width} {height}" class="w-100 border rounded bg-white" '
    'role="img" aria-labelledby="chart-{key}-title" font-family="system-ui, sans-serif">\n'
    '      <title id="chart-{key}-title">{title}: {labels}</title>\n'
    '      <text x="{left}" y="18" font-size="13" font-weight="600" fill="#212529">{title}'
    "</text>\n      {y_ticks}\n"
    '      <line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#6c757d"/>\n'
    "      {x_ticks}\n"
    '      <polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{points}"/>\n'
    "      {dots}\n    </svg>\n    "
)
_Y_TICK = (
    '\n      <line x1="{left}" y1="{at}" x2="{right}" y2="{at}" stroke="#dee2e6"/>\n'
    '      <text x="{label_x}" y="{at}" dy="4" font-size="12" text-anchor="end" '
    'fill="#495057">{label}</text>\n      '
)
_X_TICK = (
    '\n      <line x1="{at}" y1="{bottom}" x2="{at}" y2="{tick_end}" stroke="#6c757d"/>\n'
    '      <text x="{at}" y="{label_y}" font-size="12" text-anchor="middle" '
    'fill="#495057">{label}</text>\n      '
)
_DOT = '<circle cx="{x}" cy="{y}" r="4.5" fill="{colour}"><title>{label}</title></circle>'
_CHART = (
    '<div class="progress-charts d-flex flex-wrap gap-3" id="progress-chart">\n{figures}\n'
    '</div>\n<table class="table table-sm mt-2 progress-table" id="progress-table">\n'
    '  <caption class="visually-hidden">{caption}</caption>\n'
    '  <thead><tr><th scope="col">{follow_up}</th><th scope="col">{density}</th>'
    '<th scope="col">{rating}</th></tr></thead>\n'
    "  <tbody>{rows}</tbody>\n</table>\n"
)
_ROW = "<tr><td>{kind}, {day}</td><td>{density}</td><td>{rating}</td></tr>"


def _n(value) -> str:
    """A number in the SVG: as `{% localize off %}{{ value }}` writes it. Unlocalized, an
    integer is its digits and a float its str() (Django's numberformat splits str() at the
    point and joins it again with DECIMAL_SEPARATOR), but for an exponent (numberformat
    reads it as a Decimal): those asked of localize, as is any other type."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float and settings.DECIMAL_SEPARATOR == ".":
        text = str(value)
        if "e" not in text:
            return text
    return localize(value, use_l10n=False)


def _svg(key: str, colour: str, panel, chart: dict) -> str:
    left, right, bottom = _n(chart["left"]), _n(chart["right"]), chart["bottom"]
    label_x = _n(chart["left"] - 6)
    return _SVG.format(
        width=_n(chart["width"]),
        height=_n(chart["height"]),
        key=esc(key),
        title=esc(panel.title),
        labels="; ".join(esc(d.label) for d in panel.dots),
        left=left,
        right=right,
        bottom=_n(bottom),
        y_ticks="".join(
            _Y_TICK.format(left=left, right=right, at=_n(t.at), label_x=label_x, label=esc(t.label))
            for t in panel.y_ticks
        ),
        x_ticks="".join(
            _X_TICK.format(
                at=_n(t.at),
                bottom=_n(bottom),
                tick_end=_n(bottom + 4),
                label_y=_n(bottom + 18),
                label=esc(t.label),
            )
            for t in panel.x_ticks
        ),
        colour=esc(colour),
        points=esc(panel.points),
        dots="".join(
            _DOT.format(x=_n(d.x), y=_n(d.y), colour=esc(colour), label=esc(d.label))
            for d in panel.dots
        ),
    )


def _or_dash(value) -> str:
    """`{{ value|default_if_none:"–" }}`: localized as a template localizes it."""
    return "–" if value is None else esc(localize(value))


def progress_chart_html(chart: dict) -> SafeString:
    """The chart of `treatments.charts.progress_chart`: two panels and the table."""
    figures = "".join(
        _FIGURE.format(
            key=esc(key),
            body=_svg(key, colour, panel, chart)
            if panel
            else _EMPTY.format(
                said=gettext("%(title)s: not measured yet.") % {"title": esc(localize(title))}
            ),
        )
        for key, title, colour, panel in chart["panels"]
    )
    html = _CHART.format(
        figures=figures,
        caption=gettext("Progress figures by follow-up"),
        follow_up=gettext("Follow-up"),
        density=gettext("Hair density (hairs/cm²)"),
        rating=gettext("Rating (1 to 10)"),
        rows="".join(
            _ROW.format(
                kind=esc(r.kind),
                day=esc(chart_day(r.day)),
                density=_or_dash(r.density),
                rating=_or_dash(r.rating),
            )
            for r in chart["rows"]
        ),
    )
    return mark_safe(html)  # noqa: S308 (every value escaped where it is put in)


def chart_html(follow_ups) -> SafeString | None:
    """The progress chart of these follow-ups (what `progress_chart` takes), or None when
    there is no follow-up to show at all."""
    chart = progress_chart(follow_ups)
    return None if chart is None else progress_chart_html(chart)
