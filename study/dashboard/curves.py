"""Each trial's train/val curves: plain data (``curves_info``), a plotly figure, and the page.

``curves_page`` is the trial's ``curves.html`` artifact: the plot, drawn by the plotly.js the
dashboard serves, then the same numbers as a table, readable on its own.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from study import records

CURVES_FILE = "curves.html"
PAGE_NAME = CURVES_FILE.removesuffix(".html")  # the plot's element id, the default title
MISSING = "n/a"

# (panel title, y axis as a percentage, ((curve key, legend name, line style), ...))
PANELS: tuple[tuple[str, bool, tuple[tuple[str, str, dict[str, Any]], ...]], ...] = (
    (
        "top-1 accuracy",
        True,
        (
            (records.TRAIN_TOP1, "train top-1 (un-augmented subset)", {"color": "#1f77b4"}),
            (records.VAL_TOP1, "val top-1", {"color": "#ff7f0e"}),
        ),
    ),
    (
        "loss",
        False,
        (
            (records.TRAIN_LOSS, "train loss (augmented batches)", {"color": "#1f77b4"}),
            (
                records.TRAIN_PROBE_LOSS,
                "train loss (plain cross-entropy)",
                {"color": "#1f77b4", "dash": "dash"},
            ),
            (records.VAL_LOSS, "val loss", {"color": "#ff7f0e"}),
        ),
    ),
)
STYLES = {key: style for _, _, series in PANELS for key, _, style in series}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class CurvesInfo:
    """What the plot draws: the epochs, panels of named series, and the best epoch."""

    epochs: list[int]
    panels: list[dict[str, Any]]  # {"title", "percent", "series": [{"key", "name", "values"}]}
    best_epoch: int | None


def curves_info(curves: Mapping[str, Sequence[float]]) -> CurvesInfo:
    """The per-epoch curves to draw, as plain data.

    Non-finite values (a NaN loss) become None, a gap in the line. The best epoch is the
    engine's, by :func:`study.records.best_epoch`.
    """
    n = max((len(v) for v in curves.values()), default=0)
    epochs = [int(e) for e in curves.get(records.EPOCH, range(1, n + 1))]
    panels = []
    for title, percent, series in PANELS:
        lines = [
            {"key": key, "name": label, "values": [_finite(float(v)) for v in curves[key]]}
            for key, label, _ in series
            if curves.get(key)
        ]
        if lines:
            panels.append({"title": title, "percent": percent, "series": lines})
    return CurvesInfo(epochs, panels, records.best_epoch(curves))


def curves_figure(info: CurvesInfo, title: str = "") -> go.Figure:
    """One subplot per panel of ``curves_info``, the best epoch marked by a dotted line."""
    panels = info.panels
    fig = make_subplots(
        rows=1, cols=max(1, len(panels)), subplot_titles=[p["title"] for p in panels]
    )
    dtick = 1 if len(info.epochs) <= 20 else None  # whole epochs; plotly's ticks beyond
    for col, panel in enumerate(panels, start=1):
        for s in panel["series"]:
            fig.add_trace(
                go.Scatter(
                    x=info.epochs,
                    y=s["values"],
                    name=s["name"],
                    mode="lines+markers",
                    line=STYLES[s["key"]],
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", dtick=dtick, row=1, col=col)
        if panel["percent"]:
            fig.update_yaxes(tickformat=".0%", row=1, col=col)
        if info.best_epoch is not None:
            fig.add_vline(
                x=info.best_epoch,
                line_dash="dot",
                line_color="gray",
                annotation_text="best epoch" if col == 1 else None,
                row=1,
                col=col,
            )
    fig.update_layout(
        title=title or None,
        template="plotly_white",
        height=420,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


# (table heading, curve key, format): the numbers of the page, one row per epoch.
TABLE: tuple[tuple[str, str, str], ...] = (
    ("train top-1", records.TRAIN_TOP1, "pct"),
    ("val top-1", records.VAL_TOP1, "pct"),
    ("train loss (augmented)", records.TRAIN_LOSS, "loss"),
    ("train loss (plain CE)", records.TRAIN_PROBE_LOSS, "loss"),
    ("val loss", records.VAL_LOSS, "loss"),
    ("gap (train − val top-1, trained classes)", records.GAP, "gap"),
)
PAGE_STYLE = (
    "body{font-family:sans-serif;margin:1em}"
    "p.note{color:#555;font-size:90%}"
    "table{border-collapse:collapse;font-size:90%}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "tr.best{font-weight:bold}"
)


def _cell(value: Any, kind: str) -> str:
    if value is None or not math.isfinite(float(value)):
        return MISSING
    if kind == "pct":
        return f"{value:.1%}"
    return f"{value:+.3f}" if kind == "gap" else f"{value:.3f}"


def curves_page(curves: Mapping[str, Sequence[float]], *, title: str, plotlyjs_src: str) -> str:
    """The trial's ``curves.html``: the plot, drawn by the plotly.js at ``plotlyjs_src``, then
    the same numbers as a table, so the file still reads on its own (where the plot cannot draw).
    """
    info = curves_info(curves)
    plot = curves_figure(info, title=title).to_html(
        include_plotlyjs=False, full_html=False, div_id=PAGE_NAME
    )
    columns = [(head, key, kind) for head, key, kind in TABLE if curves.get(key)]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["epoch", *(c[0] for c in columns)])
    rows = []
    for i, epoch in enumerate(info.epochs):
        best = epoch == info.best_epoch
        cells = [f"{epoch} (best)" if best else str(epoch)]
        for _, key, kind in columns:
            values = curves[key]
            cells.append(_cell(values[i] if i < len(values) else None, kind))
        tr = '<tr class="best">' if best else "<tr>"
        rows.append(tr + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    name = html.escape(title or PAGE_NAME)
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{name}: train/val curves</title>",
            f"<style>{PAGE_STYLE}</style>",
            f'<script src="{html.escape(plotlyjs_src)}"></script>',
            "</head>",
            "<body>",
            '<p class="note">The plot needs optuna-dashboard (<code>python -m study '
            "dashboard</code>), which serves its plotly.js; opened on its own, this page shows "
            "only the table below.</p>",
            plot,
            f"<h3>{name}: per epoch</h3>",
            f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>",
            "</body>",
            "</html>",
        ]
    )
