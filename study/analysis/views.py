"""Section 4, per-parameter views: isolation, slice, parallel-coordinate and history plots.

Isolation buckets (the tuning playbook's) are equal widths of the searched range (log-spaced for a
log parameter) or the choices; parallel coordinates are SVG lines, never ``go.Parcoords``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from study.analysis.inputs import ReportInputs, baseline_row, finished, noise_floor
from study.analysis.markup import Html, esc, figure, paragraph, pct

MAX_BUCKETS = 10  # an isolation plot's most buckets (sqrt(finished trials) below 100 trials)
MAX_LINES = 300  # parallel coordinates: the best trials drawn, so the page stays small
ISOLATION = (
    "Best val top-1 per bucket of each scientific parameter (n: its finished trials), with a 95 % "
    "interval of that trial's val top-1; a maximum rises with n. The star is the baseline."
)
SLICES = "Val top-1 of every finished trial against each parameter; the star is the baseline."
PARALLEL = (
    "A line per trial, darker is better, baseline dashed red: the best {} of {} (at most {})."
)
HISTORY = "Val top-1 of each finished trial by number, the best so far, and the baseline (dashed)."
Value = float | str | None
Line = tuple[float | None, ...]  # a trial's places on the parallel axes, in [0, 1] (None: lacks)


def _label(value: Any) -> str | None:  # a value as its axis label (None: missing)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))  # a choice 1 reads back as 1.0 in a column with a missing value
    return str(value)


def _sig(value: float) -> float:
    return float(f"{value:.4g}")  # parameter values: 4 significant digits, so 1e-4 survives


@dataclass(frozen=True)
class Param:
    """One searched parameter: a numeric range (log or not) or categorical choices."""

    name: str
    categorical: bool
    log: bool = False
    low: float = 0.0  # numeric: the searched range (else the observed one)
    high: float = 1.0
    choices: tuple[str, ...] = ()  # categorical: the labels in axis order

    def unit(self, values: Any) -> np.ndarray:
        """Each value's place on this parameter's axis, in [0, 1] (NaN: missing)."""
        if self.categorical:
            at = {c: i / max(len(self.choices) - 1, 1) for i, c in enumerate(self.choices)}
            return np.array([at.get(_label(v), np.nan) for v in values], dtype=float)
        f = np.log10 if self.log else np.asarray
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
        lo, hi = f(self.low), f(self.high)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.clip((f(x) - lo) / (hi - lo), 0, 1) if hi > lo else x * 0 + 0.5

    def at(self, u: float) -> float:
        """The value at place ``u`` of a numeric axis."""
        lo, hi = self.low, self.high
        return lo * (hi / lo) ** u if self.log else lo + (hi - lo) * u


@dataclass(frozen=True)
class Bucket:
    label: str
    trials: int  # finished trials in it
    best: float | None  # their best val top-1 (None: empty)
    best_trial: int | None
    half_width: float | None  # 95 % half-width of that best trial's val top-1 (binomial)


@dataclass(frozen=True)
class ParamView(Param):
    """One parameter: its slice (``x``, one per finished trial) and its isolation buckets."""

    scientific: bool = True  # isolation plots are drawn for scientific parameters only
    x: tuple[Value, ...] = ()  # its value in each of ViewsInfo.numbers (None: that trial lacks it)
    baseline: Value = None
    buckets: tuple[Bucket, ...] = ()
    baseline_bucket: int | None = None


@dataclass(frozen=True)
class Parallel:
    axes: tuple[str, ...]  # parameter names, then "val top-1"
    ticks: tuple[tuple[tuple[float, str], ...], ...]  # per axis: (place in [0, 1], label)
    lines: tuple[Line, ...]  # the best MAX_LINES trials, best first
    baseline: Line | None
    total: int  # finished trials (the page says when fewer lines are drawn)


@dataclass(frozen=True)
class ViewsInfo:
    numbers: tuple[int, ...] = ()  # the finished trials, in number order
    values: tuple[float, ...] = ()  # their val top-1
    best_so_far: tuple[float, ...] = ()
    baseline_value: float | None = None  # the baseline trial's val top-1
    params: tuple[ParamView, ...] = ()  # every searched, non-fixed parameter
    parallel: Parallel | None = None


def _params(inputs: ReportInputs) -> tuple[Param, ...]:
    """Every searched, non-fixed parameter: the space's order, then any others sorted."""
    space = inputs.study.space.get("params", {}) or {}
    found = [c.removeprefix("params_") for c in inputs.frame.columns if c.startswith("params_")]
    names = [n for n in space if n in found] + sorted(set(found) - set(space))
    out, roles = [], inputs.study.roles
    for name in [n for n in names if roles.get(n, space.get(n, {}).get("role")) != "fixed"]:
        spec, column = space.get(name, {}), inputs.frame[f"params_{name}"]
        x = pd.to_numeric(column, errors="coerce")
        numeric = x.notna().sum() == column.notna().sum() and not column.map(type).eq(bool).any()
        if spec.get("type", "float" if numeric else "") not in ("float", "int"):
            labels = [_label(c) for c in spec.get("choices", ())]
            seen = sorted({v for v in map(_label, column) if v is not None} - set(labels))
            out.append(Param(name, True, choices=(*labels, *seen)))
            continue
        low, high = (float(spec.get(k, f(x))) for k, f in (("low", np.min), ("high", np.max)))
        low, high = (low, high) if math.isfinite(low) else (0.0, 1.0)
        out.append(Param(name, False, bool(spec.get("log")) and low > 0, low, high))
    return tuple(out)


def _view(p: Param, rows: pd.DataFrame, base: Value, science: bool, images: int) -> ParamView:
    """``p``'s slice and isolation buckets over the finished ``rows``."""
    raw, values = rows[f"params_{p.name}"], rows["value"].to_numpy(float)
    numbers = [*map(int, rows["number"]), None]  # [-1]: an empty bucket's best trial
    u = np.append(p.unit(raw), p.unit([base]))  # the baseline's place last
    if p.categorical:
        k, labels, index = len(p.choices), p.choices, np.round(u * max(len(p.choices) - 1, 1))
    else:
        n = np.isfinite(u[:-1]).sum() if p.high > p.low else 1  # a point range: one bucket
        k = max(1, min(MAX_BUCKETS, math.ceil(math.sqrt(n))))
        labels = tuple(f"{p.at(i / k):.3g}–{p.at((i + 1) / k):.3g}" for i in range(k))
        index = np.minimum(np.floor(u * k), k - 1)
    buckets = []
    for i in range(k):
        inside = np.flatnonzero(index[:-1] == i)
        top = int(inside[np.argmax(values[inside])]) if len(inside) else -1  # ties: earlier
        best = None if top < 0 else round(float(values[top]), 4)
        se = math.nan if best is None else noise_floor(best, images)
        half = None if math.isnan(se) else round(1.96 * se, 4)  # a 95 % interval
        buckets.append(Bucket(labels[i], len(inside), best, numbers[top], half))
    x = [_label(v) if p.categorical or _label(v) is None else _sig(float(v)) for v in raw]
    at = None if index[-1] != index[-1] else int(index[-1])  # NaN: no baseline value
    extra = dict(scientific=science, x=(*x,), baseline=base, buckets=(*buckets,))
    return ParamView(**vars(p), **extra, baseline_bucket=at)


def _parallel(params: tuple[Param, ...], rows: pd.DataFrame, base: int | None) -> Parallel:
    shown = rows.sort_values(["value", "number"], ascending=[False, True]).head(MAX_LINES)
    top = Param("val top-1", False, low=float(rows["value"].min()), high=rows["value"].max())
    columns = [p.unit(rows[f"params_{p.name}"]) for p in params]
    places = np.column_stack([*columns, top.unit(rows["value"])]).round(4)
    where = {int(n): i for i, n in enumerate(rows["number"])}
    line = lambda n: tuple(None if v != v else float(v) for v in places[where[n]])  # noqa: E731
    ticks = [
        tuple(zip(p.unit(p.choices), p.choices, strict=True))
        if p.categorical
        else tuple((u, f"{p.at(u):.3g}") for u in (0.0, 0.5, 1.0))
        for p in params
    ]
    return Parallel(
        (*(p.name for p in params), top.name),
        (*ticks, ((0.0, pct(top.low)), (1.0, pct(top.high)))),
        tuple(line(int(n)) for n in shown["number"]),
        None if base is None else line(base),
        len(rows),
    )


def get_views_info(inputs: ReportInputs) -> ViewsInfo:
    """The per-parameter views of ``inputs``' finished trials, as plain data."""
    frame = inputs.frame
    if not len(frame):
        return ViewsInfo()
    rows, params, base = finished(frame).sort_values("number"), _params(inputs), baseline_row(frame)
    given, roles = inputs.study.baseline_params, inputs.study.roles
    views = []
    for p in params:
        raw = given.get(p.name) if base is None else base[f"params_{p.name}"]
        value = _label(raw) if p.categorical or _label(raw) is None else _sig(float(raw))
        science = roles.get(p.name, "scientific") == "scientific"
        views.append(_view(p, rows, value, science, inputs.val_images))
    values = [round(float(v), 4) for v in rows["value"]]
    number = None if base is None else int(base["number"])
    return ViewsInfo(
        numbers=tuple(int(n) for n in rows["number"]),
        values=tuple(values),
        best_so_far=tuple(float(v) for v in np.maximum.accumulate(values)) if values else (),
        baseline_value=None if base is None else round(float(base["value"]), 4),
        params=tuple(views),
        parallel=_parallel(params, rows, number) if len(rows) else None,
    )


def _panels(info: ViewsInfo, views: list[ParamView], isolation: bool) -> go.Figure:
    """One panel per parameter: its isolation buckets, or its slice of every finished trial."""
    cols, titles, e = min(3, len(views)), [str(esc(v.name)) for v in views], lambda s: str(esc(s))
    fig = make_subplots(math.ceil(len(views) / cols), cols, subplot_titles=titles)
    star = dict(symbol="star", size=13, color="#d62728", line=dict(width=1, color="#000"))
    for i, v in enumerate(views):
        at = dict(row=i // cols + 1, col=i % cols + 1)
        if isolation:
            x, cats = [f"{e(b.label)}<br>n={b.trials}" for b in v.buckets], ()
            y, bars = [b.best for b in v.buckets], [b.half_width or 0 for b in v.buckets]
            more = dict(mode="lines+markers", error_y=dict(type="data", array=bars))
            mark = None if v.baseline_bucket is None else x[v.baseline_bucket]
        else:
            cats, y = [e(c) for c in v.choices], info.values
            x = [e(c) if v.categorical and c is not None else c for c in v.x]
            more = dict(mode="markers", marker=dict(size=5, opacity=0.5))
            mark = e(v.baseline) if v.categorical and v.baseline is not None else v.baseline
        fig.add_trace(go.Scatter(x=x, y=y, name=titles[i], **more), **at)
        if mark is not None and info.baseline_value is not None:
            base = go.Scatter(x=[mark], y=[info.baseline_value], mode="markers", marker=star)
            fig.add_trace(base, **at)
        if isolation or v.categorical:
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=cats or x, **at)
        elif v.log:
            fig.update_xaxes(type="log", **at)
    height = 60 + 250 * math.ceil(len(views) / cols)
    fig.update_layout(template="plotly_white", height=height, showlegend=False)
    return fig.update_yaxes(tickformat=".0%")


def _lines(lines: tuple[Line, ...], **style: Any) -> go.Scatter:
    """Polylines over the axes 0, 1, ... as one trace, split by gaps (None)."""
    xs = [x for line in lines for x in (*range(len(line)), None)]
    ys = [y for line in lines for y in (*line, None)]
    return go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", **style)


def _draw_parallel(par: Parallel) -> go.Figure:
    m, k = len(par.axes), len(par.lines)
    axes = go.Scatter(x=[i for i in range(m) for i in (i, i, None)], y=[0, 1, None] * m)
    fig = go.Figure(axes.update(mode="lines", line_color="#888", hoverinfo="skip"))
    blues = ("#c6dbef", "#6baed6", "#2171b5", "#08519c", "#08306b")  # worse -> better
    rank = [4 - 5 * i // max(k, 1) for i in range(k)]  # quintiles, the lines best first
    for b, color in enumerate(blues):
        group = tuple(line for line, r in zip(par.lines, rank, strict=True) if r == b)
        fig.add_trace(_lines(group, line=dict(color=color, width=1), opacity=0.7))
    if par.baseline is not None:
        fig.add_trace(_lines((par.baseline,), line=dict(color="#d62728", width=3, dash="dash")))
    for i, (name, ticks) in enumerate(zip(par.axes, par.ticks, strict=True)):
        fig.add_annotation(x=i, y=1.1, text=str(esc(name)), showarrow=False)
        for y, label in ticks:
            fig.add_annotation(x=i, y=y, text=str(esc(label)), showarrow=False, xanchor="right")
    fig.update_layout(template="plotly_white", height=420, showlegend=False)
    fig.update_xaxes(visible=False, range=[-0.5, m - 0.7])
    return fig.update_yaxes(visible=False, range=[-0.05, 1.15])


def _draw_history(info: ViewsInfo) -> go.Figure:
    fig = go.Figure(layout=dict(template="plotly_white", height=360, xaxis_title="trial"))
    fig.add_trace(go.Scatter(x=info.numbers, y=info.values, mode="markers", name="val top-1"))
    fig.add_trace(go.Scatter(x=info.numbers, y=info.best_so_far, name="best so far"))
    if info.baseline_value is not None:
        ends, line = [info.numbers[0], info.numbers[-1]], dict(color="#d62728", dash="dash")
        fig.add_trace(go.Scatter(x=ends, y=[info.baseline_value] * 2, name="baseline", line=line))
    return fig.update_yaxes(tickformat=".0%")


def draw_views(info: ViewsInfo) -> Html:
    """Section 4's fragment: the four views, each with one paragraph on what it shows."""
    if not info.numbers or not info.params:
        why = "no finished trial yet" if not info.numbers else "no searched parameter"
        return paragraph(f"No per-parameter views: {why}.")
    science, par = [v for v in info.params if v.scientific], info.parallel
    views = (
        ("Isolation plots", science and _panels(info, science, True), ISOLATION),
        ("Slice plots", _panels(info, list(info.params), False), SLICES),
        (
            "Parallel coordinates",
            _draw_parallel(par),
            PARALLEL.format(len(par.lines), par.total, MAX_LINES),
        ),
        ("Optimization history", _draw_history(info), HISTORY),
    )
    parts = [
        f"<h3>{title}</h3>{paragraph(text)}{figure(fig, f'views-{i}')}"
        for i, (title, fig, text) in enumerate(views)
        if fig
    ]
    return Html("".join(parts))
