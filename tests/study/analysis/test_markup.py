"""The report's HTML fragments: escaping, numbers, and figures with no WebGL."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from study.analysis.markup import (
    Html,
    bullets,
    check_svg,
    esc,
    figure,
    paragraph,
    pct,
    points,
    table,
)

SCRIPT = "<script>alert('x')</script>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (SCRIPT, "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
        ('a "b" & c', "a &quot;b&quot; &amp; c"),
        (None, "–"),
        (0.5, "0.5"),
        (Html("<b>kept</b>"), "<b>kept</b>"),
    ],
)
def test_esc(value, expected):
    assert esc(value) == expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.4231, 1, "42.3 %"),
        (0.0, 1, "0.0 %"),
        (1.0, 0, "100 %"),
        (None, 1, "–"),
        (math.nan, 1, "–"),
    ],
)
def test_pct(value, digits, expected):
    assert pct(value, digits) == expected


@pytest.mark.parametrize(
    ("value", "sign", "expected"),
    [(0.012, True, "+1.2 points"), (-0.04, True, "-4.0 points"), (0.027, False, "2.7 points")],
)
def test_points(value, sign, expected):
    assert points(value, sign=sign) == expected


def test_tables_paragraphs_and_lists_escape_every_cell_but_fragments():
    html = table(["class", Html("<i>n</i>")], [[SCRIPT, 3], [Html("<b>x</b>"), None]], cls="t")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<th><i>n</i></th>" in html and "<td><b>x</b></td>" in html and 'class="t"' in html
    assert "<script>" not in paragraph("a", SCRIPT) and "<script>" not in bullets([SCRIPT])


def test_a_figure_is_a_div_for_the_pages_one_plotlyjs():
    html = figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "fig-1")
    assert 'id="fig-1"' in html and "Plotly.newPlot" in html
    assert "cdn.plot.ly" not in html and len(html) < 20_000  # plotly.js itself is not in it


@pytest.mark.parametrize("trace", [go.Scattergl(x=[1], y=[1]), go.Parcoords(dimensions=[])])
def test_webgl_traces_are_refused(trace):
    with pytest.raises(ValueError, match="WebGL"):
        check_svg(go.Figure(trace))
