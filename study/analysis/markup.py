"""HTML fragments for the report's sections: escaping, numbers, tables and plotly figures.

Every user-supplied string (class names, study names, parameter values, reasons, errors) goes
through :func:`esc` or a helper that calls it. A figure is a ``<div>`` drawn by the page's one
embedded plotly.js (``include_plotlyjs=False``); no WebGL trace is ever used (``check_svg``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

# Trace types plotly draws with WebGL: headless and remote browsers often lack it.
WEBGL_TRACES = frozenset({"scattergl", "parcoords", "splom", "heatmapgl", "pointcloud"})
WEBGL_TRACES |= {"scatter3d", "surface", "mesh3d", "cone", "streamtube", "volume", "isosurface"}
MISSING = "–"


class Html(str):
    """A fragment already escaped: :func:`esc` and :func:`table` pass it through as is."""


def esc(value: Any) -> Html:
    """``value`` as escaped HTML text (an :class:`Html` fragment is kept as it is)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(MISSING if value is None else str(value), quote=True))


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.4231 -> "42.3 %"."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{100 * value:.{digits}f} %"


def points(value: float | None, digits: int = 1, sign: bool = True) -> str:
    """A fraction of val top-1 as points: 0.012 -> "+1.2 points"."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{100 * value:{'+' if sign else ''}.{digits}f} points"


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, cls: str | None = None) -> Html:
    """An HTML table; every cell escaped unless it is an :class:`Html` fragment."""
    attr = f' class="{esc(cls)}"' if cls else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return Html(f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def paragraph(*sentences: Any) -> Html:
    return Html("<p>" + " ".join(esc(s) for s in sentences) + "</p>")


def bullets(items: Iterable[Any]) -> Html:
    return Html("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def check_svg(fig: go.Figure) -> None:
    """ValueError if ``fig`` has a trace plotly draws with WebGL."""
    for trace in fig.data:
        if trace.type in WEBGL_TRACES:
            raise ValueError(f"trace type {trace.type!r} needs WebGL; draw it as SVG")


def figure(fig: go.Figure, div_id: str) -> Html:
    """``fig`` as a ``<div>`` for the page's embedded plotly.js (SVG traces only)."""
    check_svg(fig)
    return Html(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )
