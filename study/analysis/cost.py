"""Section 5, size and cost: val top-1 against parameter count and against training seconds.

Each plot marks its Pareto front: the finished trials no other trial beats on both top-1 (higher)
and cost (lower). A front is drawn from single val top-1s, so the page states the noise floor and
which front steps are too small to tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from study.analysis.inputs import ReportInputs, baseline_row, best_row, finished, noise_floor
from study.analysis.markup import Html, bullets, esc, figure, paragraph, pct, points
from study.records import NUM_PARAMS, SECONDS

# Two independent val top-1s differ beyond noise (95 %) when by more than this many noise
# floors: 1.96 * sqrt(2) standard errors of one. A paired comparison on the same images is
# tighter, but it needs both trials' predictions, which the page keeps for a few trials only.
NOISE_GAP = 1.96 * math.sqrt(2)
COSTS = ((NUM_PARAMS, "parameters"), (SECONDS, "training seconds"))
Point = tuple[int, float, float]  # (trial number, cost, val top-1)


@dataclass(frozen=True)
class CostPlot:
    """One cost measure: every finished trial that has it, its Pareto front, the marked ones."""

    measure: str  # the trials frame's column: num_params or seconds
    label: str
    log: bool  # draw the cost axis on a log scale (it spans a factor of 10 or more)
    points: tuple[Point, ...]  # in number order
    front: tuple[Point, ...]  # cheapest first
    baseline: Point | None
    best: Point | None  # the best trial (None: it lacks this cost)
    within_noise: tuple[int, ...]  # front trials not beyond noise of the next cheaper front point
    cheapest_near_best: Point | None  # the cheapest front point within noise of the top one


@dataclass(frozen=True)
class CostInfo:
    finished: int
    val_images: int
    noise_floor: float | None  # one standard error of the best's val top-1 (None: unknown)
    plots: tuple[CostPlot, ...]


def pareto_front(found: Iterable[Point]) -> tuple[Point, ...]:
    """The points no other point dominates (cost <= and top-1 >=, one strictly), cheapest
    first; equal points are all kept, in number order."""
    front: list[Point] = []
    for point in sorted(found, key=lambda p: (p[1], -p[2], p[0])):
        last = front[-1] if front else None
        if last is None or point[2] > last[2] or point[1:] == last[1:]:
            front.append(point)
    return tuple(front)


def _near(front: tuple[Point, ...], margin: float | None) -> tuple[tuple[int, ...], Point | None]:
    """The front steps within ``margin`` of the step before, and the cheapest front point within
    ``margin`` of the front's top."""
    if margin is None or not front:
        return (), None
    steps = tuple(b[0] for a, b in pairwise(front) if b[2] - a[2] < margin)
    top = front[-1][2]
    return steps, next(p for p in front if top - p[2] < margin)


def _plot(rows, measure: str, label: str, base, best, margin: float | None) -> CostPlot:
    cost = rows[measure].astype("float64").to_numpy()
    keep = np.isfinite(cost)
    numbers, values = rows["number"].to_numpy()[keep], rows["value"].to_numpy(float)[keep]
    found = tuple(
        (int(n), round(float(c), 4), round(float(v), 4))
        for n, c, v in zip(numbers, cost[keep], values, strict=True)
    )
    by_number = {p[0]: p for p in found}
    front = pareto_front(found)
    positive = [p[1] for p in found if p[1] > 0]
    log = len(positive) == len(found) > 0 and max(positive) >= 10 * min(positive)
    steps, cheapest = _near(front, margin)
    return CostPlot(
        measure,
        label,
        log,
        found,
        front,
        None if base is None else by_number.get(int(base["number"])),
        None if best is None else by_number.get(int(best["number"])),
        steps,
        cheapest,
    )


def get_cost_info(inputs: ReportInputs) -> CostInfo:
    """Val top-1 against each cost of ``inputs``' finished trials, fronts marked (plain data)."""
    frame = inputs.frame
    rows = finished(frame).sort_values("number") if len(frame) else frame
    base, best = (baseline_row(frame), best_row(frame)) if len(frame) else (None, None)
    floor = math.nan if best is None else noise_floor(float(best["value"]), inputs.val_images)
    floor = None if math.isnan(floor) else round(floor, 4)
    margin = None if floor is None else NOISE_GAP * floor
    plots = tuple(
        _plot(rows, measure, label, base, best, margin)
        for measure, label in COSTS
        if measure in rows.columns
    )
    return CostInfo(len(rows), inputs.val_images, floor, plots)


def _cost(plot: CostPlot, value: float) -> str:
    return f"{value:,.0f} parameters" if plot.measure == NUM_PARAMS else f"{value:,.0f} s"


def _sentences(info: CostInfo, plot: CostPlot) -> list[str]:
    """What the front of ``plot`` can and cannot tell, in plain sentences."""
    if not plot.points:
        return [f"{plot.label.capitalize()}: no finished trial records it."]
    out = [
        f"{plot.label.capitalize()}: {len(plot.front)} of {len(plot.points)} trials on the front "
        f"(cheapest {_cost(plot, plot.front[0][1])}, best {pct(plot.front[-1][2])})."
    ]
    if plot.cheapest_near_best is not None:
        n, cost, top1 = plot.cheapest_near_best
        out.append(
            f"Trial {n} ({_cost(plot, cost)}, {pct(top1)}) is the cheapest whose val top-1 is "
            "not distinguishable from the front's best in this study."
        )
    if plot.within_noise:
        out.append(
            f"{len(plot.within_noise)} of the front's {len(plot.front) - 1} steps gain less than "
            "that margin: not distinguishable from noise in this study."
        )
    return out


def _draw(info: CostInfo) -> go.Figure:
    fig = make_subplots(1, len(info.plots), subplot_titles=[p.label for p in info.plots])
    for i, plot in enumerate(info.plots, 1):
        marks = (
            ("trials", plot.points, dict(size=5, color="#9aa7b8", opacity=0.6), "markers"),
            ("Pareto front", plot.front, dict(size=8, color="#ff7f0e"), "lines+markers"),
            (
                "baseline",
                (plot.baseline,),
                dict(size=14, symbol="star", color="#d62728"),
                "markers",
            ),
            ("best", (plot.best,), dict(size=12, symbol="diamond", color="#2ca02c"), "markers"),
        )
        for name, group, marker, mode in marks:
            group = [p for p in group if p is not None]
            if not group:
                continue
            numbers, x, y = zip(*group, strict=True)
            line = dict(shape="hv") if mode != "markers" else None
            trace = go.Scatter(
                x=x,
                y=y,
                mode=mode,
                marker=marker,
                line=line,
                name=name,
                customdata=numbers,
                hovertemplate="trial %{customdata}: %{y:.1%}",
                showlegend=i == 1,
            )
            fig.add_trace(trace, row=1, col=i)
        fig.update_xaxes(title_text=esc(plot.label), type="log" if plot.log else None, row=1, col=i)
    fig.update_yaxes(tickformat=".0%").update_yaxes(title_text="val top-1", col=1)
    return fig.update_layout(template="plotly_white", height=420)


def draw_cost(info: CostInfo) -> Html:
    """Section 5's fragment: the two plots and what their fronts can tell."""
    if not info.finished or not any(p.points for p in info.plots):
        return paragraph("No finished trial with a parameter count or training time yet.")
    if info.noise_floor is None:
        noise = (
            "The val noise floor is unknown (the study records no val split size), so the page "
            "cannot tell which front points differ beyond noise."
        )
    else:
        noise = (
            f"Val noise floor: one standard error of val top-1 is "
            f"{points(info.noise_floor, sign=False)} on {info.val_images} val images, so two "
            f"trials' val top-1 differ beyond noise only by more than about "
            f"{points(NOISE_GAP * info.noise_floor, sign=False)} (independent accuracies; a paired "
            "comparison on the same images is tighter). Front points closer than that are not "
            "distinguishable from noise in this study."
        )
    lines = [s for plot in info.plots for s in _sentences(info, plot)]
    return Html(
        paragraph(
            "Val top-1 against parameter count and against training seconds; orange, the Pareto "
            "front (no trial is both cheaper and better); star, the baseline; diamond, the best."
        )
        + figure(_draw(info), "cost")
        + f'<p class="verdict">{esc(noise)}</p>'
        + bullets(lines)
    )
