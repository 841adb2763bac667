"""Section 6, the long tail: val top-1 by train images per class, the min-images trade-off,
the hardest classes, and (with ``--group-by``) the groups that most need data.

The buckets are by train images per class, the edges from the space's ``report.bucket_edges``
(default :data:`study.records.DEFAULT_BUCKET_EDGES`: tail <= 10 < mid <= 100 < head,
LVIS-style). A val image's label is its class's index in the study record's class list; a
predicted class of -1 means the image's own class was dropped by ``min_images`` (an error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from study import records
from study.analysis.findings import Interval
from study.analysis.groups import (
    GroupsInfo,
    HardClass,
    Share,
    draw_groups,
    draw_hardest,
    get_groups_info,
    hardest_classes,
    mean_interval,
    overall,
    shares,
    top1_text,
)
from study.analysis.inputs import Predictions, ReportInputs, baseline_row, best_row, finished
from study.analysis.markup import Html, figure, paragraph, points, table
from study.analysis.paired import PairedDifference, paired_difference

MIN_IMAGES = "params_min_images"
KEPT = "val_top1_kept"


@dataclass(frozen=True)
class TrialBuckets:
    """One trial's val top-1 per bucket, and overall (the buckets' exact sum)."""

    trial: int
    role: str  # "baseline", "best", or "baseline and best"
    buckets: tuple[Share, ...]
    overall: Share


@dataclass(frozen=True)
class TradeoffRow:
    """The finished trials of one min_images value: means over trials, 95 % t-intervals
    (one trial: an infinite interval)."""

    min_images: Any
    trials: int
    coverage: Interval | None  # share of classes trained on
    top1: Interval | None  # val top-1 on all classes (the objective)
    top1_kept: Interval | None  # val top-1 on the kept classes, at the best epoch


@dataclass(frozen=True)
class TailInfo:
    edges: tuple[int, ...]
    bucket_names: tuple[str, ...]  # e.g. ("tail: <= 10", "mid: 11-100", "head: > 100")
    trials: tuple[TrialBuckets, ...]  # the baseline, then the best trial
    differences: tuple[PairedDifference | None, ...]  # best - baseline, per bucket then overall
    tradeoff: tuple[TradeoffRow, ...]  # by min_images value
    hardest_trial: int | None
    hardest: tuple[HardClass, ...]
    groups: GroupsInfo | None
    notes: tuple[str, ...]  # what could not be computed, and why


def bucket_names(edges: tuple[int, ...]) -> tuple[str, ...]:
    """Each bucket's name and train images per class: ("tail: ≤ 10", "mid: 11–100", ...)."""
    mids = [
        f"mid{f' {i}' if len(edges) > 2 else ''}: {edges[i - 1] + 1}–{edges[i]}"
        for i in range(1, len(edges))
    ]
    return (f"tail: ≤ {edges[0]}", *mids, f"head: > {edges[-1]}")


def get_tail_info(inputs: ReportInputs) -> TailInfo:
    """Section 6 from the trials frame, the study record and the val predictions."""
    report = inputs.study.space.get("report", {}) or {}
    edges = tuple(int(e) for e in report.get("bucket_edges", records.DEFAULT_BUCKET_EDGES))
    frame, notes = inputs.frame, []
    base, best = baseline_row(frame), best_row(frame)
    chosen = _chosen(inputs, base, best, notes)
    names, counts = _classes(inputs, chosen)
    member = np.searchsorted(np.array(edges), counts, side="left")
    trials = []
    for number, role, pred in chosen:
        parts = shares(bucket_names(edges), member, counts, pred.labels, pred.correct)
        trials.append(TrialBuckets(number, role, parts, overall(parts)))
    differences: tuple[PairedDifference | None, ...] = ()
    if len(chosen) == 2:
        differences = _differences(chosen[0][2], chosen[1][2], member, len(edges) + 1, notes)
    hard_trial, hardest, groups = None, (), None
    top = [c for c in chosen if "best" in c[1]]
    if top:
        hard_trial, _, pred = top[0]
        hardest = hardest_classes(names, counts, pred)
        if inputs.class_groups:
            field = inputs.group_by or "group"
            groups = get_groups_info(field, hard_trial, names, inputs.class_groups, counts, pred)
    elif best is not None:
        notes.append(
            f"The best trial (#{int(best['number'])}) has no val predictions: its hardest "
            "classes and groups cannot be shown."
        )
    return TailInfo(
        edges=edges,
        bucket_names=bucket_names(edges),
        trials=tuple(trials),
        differences=differences,
        tradeoff=_tradeoff(frame),
        hardest_trial=hard_trial,
        hardest=hardest,
        groups=groups,
        notes=tuple(notes),
    )


def _chosen(
    inputs: ReportInputs, base: pd.Series | None, best: pd.Series | None, notes: list[str]
) -> list[tuple[int, str, Predictions]]:
    """(trial, role, predictions) of the baseline and the best trial that have predictions."""
    if best is None:
        notes.append("No trial has finished yet: there are no val predictions to bucket.")
        return []
    if not inputs.study.train_counts:
        notes.append("The study records no train images per class: no buckets can be drawn.")
        return []
    wanted = [] if base is None else [(int(base["number"]), "baseline")]
    if base is None:
        notes.append("No finished baseline trial: the best trial is shown alone.")
    if wanted and wanted[0][0] == int(best["number"]):
        wanted = [(wanted[0][0], "baseline and best")]
    else:
        wanted.append((int(best["number"]), "best"))
    missing = [f"#{n} ({role})" for n, role in wanted if n not in inputs.predictions]
    if missing:
        notes.append(
            f"No val predictions for trial {', '.join(missing)} (the file is missing or was "
            "never recorded): its buckets, hardest classes and groups cannot be computed."
        )
    return [(n, role, inputs.predictions[n]) for n, role in wanted if n in inputs.predictions]


def _classes(
    inputs: ReportInputs, chosen: list[tuple[int, str, Predictions]]
) -> tuple[list[str], np.ndarray]:
    """Class names and train counts, padded for any label beyond the record (0 train images)."""
    counts = [int(c) for c in inputs.study.train_counts]
    names = list(inputs.study.classes) or [f"class {i}" for i in range(len(counts))]
    labels = max((int(p.labels.max()) + 1 for _, _, p in chosen if len(p.labels)), default=0)
    size = max(len(counts), len(names), labels)
    names += [f"class {i}" for i in range(len(names), size)]
    counts += [0] * (size - len(counts))
    return names, np.array(counts, dtype=np.int64)


def _differences(
    base: Predictions, best: Predictions, member: np.ndarray, k: int, notes: list[str]
) -> tuple[PairedDifference | None, ...]:
    """best - baseline per bucket and overall, paired on the same val images."""
    if not np.array_equal(base.labels, best.labels):
        notes.append(
            "The baseline and the best trial were not validated on the same images: no paired "
            "comparison."
        )
        return ()
    bucket = member[base.labels]
    masks = [bucket == b for b in range(k)] + [np.ones(len(bucket), dtype=bool)]
    return tuple(
        paired_difference(base.correct[m], best.correct[m]) if m.any() else None for m in masks
    )


def _tradeoff(frame: pd.DataFrame) -> tuple[TradeoffRow, ...]:
    """Coverage and val top-1 (all and kept classes) per min_images value."""
    if MIN_IMAGES not in frame.columns:
        return ()
    rows = finished(frame)
    rows = rows[rows[MIN_IMAGES].notna()]
    pairs = zip(rows[records.CURVES], rows[records.BEST_EPOCH], strict=True)
    kept = pd.Series([_at_best(c, e) for c, e in pairs], index=rows.index, dtype=float)
    return tuple(
        TradeoffRow(
            min_images=value.item() if hasattr(value, "item") else value,
            trials=len(part),
            coverage=mean_interval(part[records.CLASS_COVERAGE]),
            top1=mean_interval(part["value"]),
            top1_kept=mean_interval(kept[part.index]),
        )
        for value, part in rows.groupby(MIN_IMAGES, sort=True)
    )


def _at_best(curves: dict, best_epoch: Any) -> float:
    """curves[KEPT] at the best epoch (NaN when either is unknown)."""
    values, epochs = curves.get(KEPT) or [], curves.get(records.EPOCH) or []
    if pd.isna(best_epoch) or int(best_epoch) not in epochs:
        return math.nan
    i = epochs.index(int(best_epoch))
    return float(values[i]) if i < len(values) else math.nan


def difference_text(d: PairedDifference | None) -> str:
    """best - baseline in points with its paired 95 % interval, and whether it is noise."""
    if d is None:
        return "no val images"
    verdict = (
        f"beyond noise (McNemar p = {d.p_value:.2g})"
        if d.beyond_noise
        else "not distinguishable from noise in this study"
    )
    return f"{points(d.difference)} ({points(d.low)} to {points(d.high)}): {verdict}"


def draw_tail(info: TailInfo) -> Html:
    """Section 6 as HTML: the buckets, the min-images trade-off, the hardest classes, groups."""
    parts = [paragraph(note) for note in info.notes]
    parts.append(
        paragraph(
            "Buckets by train images per class (edges "
            f"{', '.join(map(str, info.edges))}: the space's report.bucket_edges, by default "
            "LVIS's rare / common / frequent). Val top-1 with its 95 % Wilson interval; the "
            "buckets add up exactly to the overall."
        )
    )
    if info.trials:
        parts.append(_bucket_table(info))
    if info.tradeoff:
        parts.append(_draw_tradeoff(info.tradeoff))
    if info.hardest:
        parts.append(draw_hardest(info.hardest_trial, info.hardest))
    if info.groups is not None:
        parts.append(draw_groups(info.groups))
    return Html("".join(parts))


def _bucket_table(info: TailInfo) -> Html:
    head = ["bucket (train images/class)", "classes (with val images)", "val images"]
    head += [f"#{t.trial} {t.role}: val top-1 (correct)" for t in info.trials]
    head += ["best − baseline, paired (95 % interval)"] if info.differences else []
    rows = []
    for i, name in enumerate((*info.bucket_names, "all")):
        shares_ = [t.buckets[i] if i < len(t.buckets) else t.overall for t in info.trials]
        first = shares_[0]
        row = [name, f"{first.classes} ({first.val_classes})", first.images]
        row += [f"{top1_text(s.top1)} ({s.correct}/{s.images})" for s in shares_]
        row += [difference_text(info.differences[i])] if info.differences else []
        rows.append(row)
    return table(head, rows)


def _draw_tradeoff(rows: tuple[TradeoffRow, ...]) -> Html:
    head = ["min_images", "trials", "class coverage", "val top-1, all classes", "kept classes"]
    body = [
        [r.min_images, r.trials, top1_text(r.coverage), top1_text(r.top1), top1_text(r.top1_kept)]
        for r in rows
    ]
    fig = go.Figure(layout={"height": 360, "margin": {"t": 30}})
    for key, label in (("top1", "all classes"), ("top1_kept", "kept classes")):
        shown = [(r, getattr(r, key)) for r in rows if r.coverage and getattr(r, key)]
        # a one-trial value has an infinite interval: no bar rather than an endless one
        up = [i.high - i.estimate if math.isfinite(i.high) else 0 for _, i in shown]
        down = [i.estimate - i.low if math.isfinite(i.low) else 0 for _, i in shown]
        bars = {"array": up, "arrayminus": down, "symmetric": False}
        x, y = [r.coverage.estimate for r, _ in shown], [i.estimate for _, i in shown]
        text = [f"min_images={r.min_images}" for r, _ in shown]
        fig.add_scatter(x=x, y=y, error_y=bars, text=text, mode="markers+text", name=label)
    fig.update_xaxes(title="class coverage (share of classes trained on)", tickformat=".0%")
    fig.update_yaxes(title="val top-1 (mean over trials)", tickformat=".0%")
    return Html(
        paragraph(
            "The min-images trade-off: means over the finished trials of each value (their "
            "other parameters differ), with 95 % t-intervals."
        )
        + table(head, body)
        + figure(fig, "tail-tradeoff")
    )
