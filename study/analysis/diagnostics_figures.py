"""Section 3's figures: the shown trials' train/val curves and the gap over epochs (SVG only)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from study.analysis.diagnostics import Curve, GapBand
from study.analysis.markup import Html, figure, paragraph

PALETTE = qualitative.Plotly


def _name(c: Curve) -> str:
    return f"{c.label} #{c.number}"


def _percent(values: Sequence[float]) -> list[float]:
    return [100 * v for v in values]


def _add(fig: go.Figure, c: Curve, color: str, col: int, train: Sequence, val: Sequence) -> None:
    """One trial's train (dashed) and val (solid) curve, its best epoch starred on val."""
    group, name = f"trial-{c.number}", _name(c)
    for what, ys, dash in (("train", train, "dash"), ("val", val, "solid")):
        if ys:
            fig.add_trace(
                go.Scatter(
                    x=list(c.epochs[: len(ys)]),
                    y=list(ys),
                    mode="lines",
                    name=f"{name} {what}",
                    legendgroup=group,
                    showlegend=col == 1,
                    line={"color": color, "dash": dash},
                ),
                row=1,
                col=col,
            )
    if c.best_epoch in c.epochs and c.epochs.index(c.best_epoch) < len(val):
        fig.add_trace(
            go.Scatter(
                x=[c.best_epoch],
                y=[val[c.epochs.index(c.best_epoch)]],
                mode="markers",
                name=f"{name} best epoch",
                legendgroup=group,
                showlegend=False,
                marker={"color": color, "symbol": "star", "size": 12},
            ),
            row=1,
            col=col,
        )


def draw_curves(curves: Sequence[Curve]) -> Html:
    """Train and val top-1 (left) and loss (right) of the baseline and the best trials."""
    if not any(c.epochs for c in curves):
        return paragraph("No finished trial has curves to draw.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("top-1 (%)", "loss"))
    for i, c in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        _add(fig, c, color, 1, _percent(c.train_top1), _percent(c.val_top1))
        _add(fig, c, color, 2, c.train_loss, c.val_loss)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(
        title="Train (dashed) and val (solid) curves, best epoch starred",
        height=420,
        margin={"t": 60, "b": 40},
    )
    return figure(fig, "diagnostics-curves")


def draw_gap(curves: Sequence[Curve], bands: Sequence[GapBand]) -> Html:
    """The train - val top-1 gap: the finished trials' median and quartiles, and each shown
    trial's own."""
    if not bands and not any(c.gap for c in curves):
        return paragraph("No trial has a train - val gap to draw.")
    fig = go.Figure()
    if bands:
        x = [b.epoch for b in bands]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[100 * b.high for b in bands],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[100 * b.low for b in bands],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(120,120,120,0.25)",
                name="finished trials: 25th-75th percentile",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[100 * b.median for b in bands],
                mode="lines",
                line={"color": "gray"},
                name="finished trials: median",
                customdata=[b.trials for b in bands],
                hovertemplate="epoch %{x}: median %{y:.1f} points over %{customdata} trials",
            )
        )
    for i, c in enumerate(curves):
        if c.gap:
            fig.add_trace(
                go.Scatter(
                    x=list(c.epochs[: len(c.gap)]),
                    y=_percent(c.gap),
                    mode="lines",
                    name=_name(c),
                    line={"color": PALETTE[i % len(PALETTE)]},
                )
            )
    fig.update_layout(
        title="Train - val top-1 gap over epochs (points, on the trained classes)",
        xaxis_title="epoch",
        yaxis_title="gap (points)",
        height=380,
    )
    return figure(fig, "diagnostics-gap")
