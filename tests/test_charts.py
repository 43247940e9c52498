"""Issue 12, item 15: the progress chart has labelled scales, one per measure, an honest
empty state, and date labels that do not collide."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from django.template import engines
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from treatments.charts import MIN_LABEL_GAP, WIDTH, nice_step, progress_chart
from ui.charts import progress_chart_html


def follow_up(day, density=None, rating=None, kind="Early result"):
    return SimpleNamespace(
        due_date=day,
        hair_density_per_cm2=None if density is None else Decimal(density),
        patient_rating=rating,
        kind=kind,  # not one of FollowUpKind's: shown as it is
    )


def panels(chart):
    return {key: panel for key, _title, _colour, panel in chart["panels"]}


def test_no_follow_ups_no_chart():
    assert progress_chart([]) is None


def test_each_measure_has_its_own_labelled_scale():
    chart = progress_chart(
        [follow_up(date(2027, 4, 2), "62.5", 4), follow_up(date(2027, 7, 2), "78", 7)]
    )
    density, rating = panels(chart)["density"], panels(chart)["rating"]
    assert [t.label for t in density.y_ticks] == ["0", "20", "40", "60", "80"]
    assert "hairs per cm²" in density.title
    assert [t.label for t in rating.y_ticks] == ["1", "4", "7", "10"]
    assert "1 to 10" in rating.title
    # A rating of 7 sits on the rating scale's "7" line, not near a density of 7.
    seven = next(t.at for t in rating.y_ticks if t.label == "7")
    assert rating.dots[1].y == seven
    assert density.dots[1].label == "78 hairs/cm² on 2 Jul 2027"
    html = progress_chart_html(chart)
    assert html.count("<svg") == 2
    assert ">80</text>" in html and ">10</text>" in html
    assert "2 Apr 2027" in html and "2 Jul 2027" in html
    assert "<td>78</td>" in html  # the table with the same figures


def test_empty_measures_say_so_without_a_made_up_scale():
    chart = progress_chart([follow_up(date(2027, 1, 9), kind="Aftercare check")])
    assert panels(chart) == {"density": None, "rating": None}
    html = progress_chart_html(chart)
    assert "up to 1" not in html
    assert "<svg" not in html
    assert "Hair density (hairs per cm²): not measured yet." in html
    assert "rating (1 to 10): not measured yet." in html


def test_one_measure_only():
    chart = progress_chart([follow_up(date(2027, 4, 2), rating=5)])
    assert panels(chart)["density"] is None
    (dot,) = panels(chart)["rating"].dots
    assert 0 < dot.x < WIDTH  # a single day sits inside the panel


def test_date_labels_never_overlap():
    start = date(2027, 1, 1)
    rows = [follow_up(start + timedelta(days=d), "50", 5) for d in (0, 7, 10, 90, 180, 185, 365)]
    ticks = panels(progress_chart(rows))["density"].x_ticks
    assert ticks[0].label == "1 Jan 2027" and ticks[-1].label == "1 Jan 2028"
    assert all(b.at - a.at >= MIN_LABEL_GAP for a, b in zip(ticks, ticks[1:], strict=False))


def test_nice_steps():
    assert nice_step(78) == 20
    assert nice_step(9) == 2.5
    assert nice_step(140) == 50
    assert nice_step(0.8) == 0.2


def test_zero_density_is_a_value_not_a_blank():
    chart = progress_chart([follow_up(date(2027, 4, 2), "0", 3)])
    assert [t.label for t in panels(chart)["density"].y_ticks] == ["0", "1"]
    assert "<td>0</td>" in progress_chart_html(chart)


def test_the_drawing_keeps_decimal_points_in_german_and_turkish():
    """SVG lengths are numbers with a point; a patient reading German or Turkish must not get
    "cx=\"81,3\"" (the browser drops the attribute and draws every dot in the corner). The
    labels, which people read, stay in the reader's own format."""
    import re

    from django.utils import translation

    chart = progress_chart(
        [follow_up(date(2027, 4, 2), "62.5", 4), follow_up(date(2027, 7, 2), "78.5", 7)]
    )
    for language in ("de", "tr"):
        with translation.override(language):
            html = progress_chart_html(chart)
        geometry = re.findall(r'\b(?:cx|cy|x|y|x1|x2|y1|y2)="([^"]*)"', html)
        assert geometry and all(re.fullmatch(r"-?\d+(\.\d+)?", value) for value in geometry)
        assert "78,5" in html  # the table's figure, read by people, in German/Turkish format


# The chart's markup was a template (`_progress_chart.html`); ui.charts writes it in Python
# (issue 18: it was the patient page's costliest part of rendering). The template is kept
# here as the reference the Python must match byte for byte.
REFERENCE = engines["django"].from_string(
    (Path(__file__).parent / "reference" / "progress_chart.html").read_text()
)
measures = st.lists(
    st.tuples(
        st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)),
        st.none() | st.decimals(min_value=0, max_value=9999, places=1),
        st.none() | st.integers(min_value=1, max_value=10),
        st.sampled_from(["Early result", "6-month assessment", "Kontrolle <b>\"&'</b>", "Çay"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(measures, st.sampled_from(["en", "de", "tr"]))
def test_the_markup_is_the_templates_byte_for_byte(rows, language):
    with translation.override(language):
        chart = progress_chart([follow_up(*row) for row in rows])
        assert progress_chart_html(chart) == REFERENCE.render({"chart": chart})
