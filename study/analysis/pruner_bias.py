"""Stopped and pruned trials by decision kind, and the pruner's bias as measured.

A pruner that stops trials of one region of a parameter more often than others biases the
search (TPE then samples that region less); what the page can show is how often it did, per
bucket of each parameter's values, with each bucket's count so a small one is seen as small.
Buckets: QUANTILE_BUCKETS quantile buckets of a numeric parameter's values, one per choice of a
categorical one (or of a numeric one with that few distinct values). Each share carries a 95 %
Wilson interval. A trial counts as stopped when PRUNED or stopped early (COMPLETE at its best
epoch); the trials counted are those the search ended (COMPLETE or PRUNED).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from study.analysis.findings import Interval
from study.analysis.markup import Html, esc, paragraph, pct, table

QUANTILE_BUCKETS = 4
EXAMPLES = 3  # example reasons shown per decision kind
ENDED_STATES = ("COMPLETE", "PRUNED")
NO_KIND = "no decision kind recorded"


@dataclass(frozen=True)
class StopGroup:
    """The trials one kind of decision stopped, and its most common reasons."""

    kind: str  # the frame's stop_kind: overfitting, floor, median, ...
    trials: int
    pruned: int
    stopped_early: int
    examples: tuple[str, ...]  # distinct reasons, most common first


@dataclass(frozen=True)
class Bucket:
    label: str  # "[0.1, 0.3)" or a choice
    trials: int
    stopped: int
    share: Interval  # stopped / trials, with its 95 % Wilson interval


@dataclass(frozen=True)
class ParamBias:
    name: str
    role: str  # scientific | nuisance | fixed | "" (unknown)
    buckets: tuple[Bucket, ...]


def wilson(k: int, n: int, z: float = 1.96) -> Interval:
    """The share k / n with its Wilson score interval (good at 0, 1 and small n)."""
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n!r}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def stopped_mask(frame: pd.DataFrame) -> pd.Series:
    """Trials a stop decision ended: PRUNED, or stopped early for overfitting."""
    return (frame["state"] == "PRUNED").fillna(False) | frame["stopped_early"].fillna(False)


def stop_groups(frame: pd.DataFrame) -> tuple[StopGroup, ...]:
    """Stopped trials grouped by decision kind, the largest group first."""
    rows = frame[stopped_mask(frame)]
    if rows.empty:
        return ()
    kinds = rows["stop_kind"].astype("object").where(rows["stop_kind"].notna(), NO_KIND)
    groups = []
    for kind, group in rows.groupby(kinds, sort=False):
        reasons = group["prune_reason"].dropna().astype(str).value_counts(sort=True)
        groups.append(
            StopGroup(
                kind=str(kind),
                trials=len(group),
                pruned=int((group["state"] == "PRUNED").sum()),
                stopped_early=int(group["stopped_early"].fillna(False).astype(bool).sum()),
                examples=tuple(str(r) for r in reasons.index[:EXAMPLES]),
            )
        )
    return tuple(sorted(groups, key=lambda g: (-g.trials, g.kind)))


def _number(x: float) -> str:
    return f"{x:.3g}"


def _buckets(values: pd.Series, stopped: np.ndarray, spec: Mapping[str, Any]) -> list[Bucket]:
    present = values.notna().to_numpy()
    values, stopped = values[present], stopped[present]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    numeric = numeric and spec.get("type") != "categorical"
    unique = pd.unique(values)
    if not numeric or len(unique) <= QUANTILE_BUCKETS:
        choices = [c for c in spec.get("choices") or [] if c in set(unique)] if numeric else []
        order = choices or sorted(unique, key=lambda v: (str(type(v)), v if numeric else str(v)))
        keys = values.to_numpy()
        return [_bucket(str(c), stopped[keys == c]) for c in order if (keys == c).any()]
    x = values.to_numpy(dtype=float)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, QUANTILE_BUCKETS + 1)))
    index = np.searchsorted(edges[1:-1], x, side="right")
    found = []
    for i in range(len(edges) - 1):
        close = "]" if i == len(edges) - 2 else ")"
        label = f"[{_number(edges[i])}, {_number(edges[i + 1])}{close}"
        if (index == i).any():
            found.append(_bucket(label, stopped[index == i]))
    return found


def _bucket(label: str, stopped: np.ndarray) -> Bucket:
    k, n = int(stopped.sum()), len(stopped)
    return Bucket(label, n, k, wilson(k, n))


def pruner_bias(
    frame: pd.DataFrame, space: Mapping[str, Any], roles: Mapping[str, str]
) -> tuple[Bucket | None, tuple[ParamBias, ...]]:
    """The overall stopped share, and its share per value bucket of each parameter.

    (None, ()) when no trial ended or none was stopped: there is no bias to measure.
    """
    ended = frame[frame["state"].isin(ENDED_STATES).fillna(False)]
    stopped = stopped_mask(ended).to_numpy(dtype=bool)
    if ended.empty or not stopped.any():
        return None, ()
    overall = _bucket("all trials", stopped)
    specs = space.get("params") or {}
    found = []
    for column in (c for c in ended.columns if c.startswith("params_")):
        name = column.removeprefix("params_")
        spec = specs.get(name) or {}
        buckets = _buckets(ended[column], stopped, spec)
        if buckets:
            role = str(roles.get(name) or spec.get("role") or "")
            found.append(ParamBias(name, role, tuple(buckets)))
    return overall, tuple(found)


def draw_stop_groups(groups: tuple[StopGroup, ...]) -> Html:
    if not groups:
        return paragraph("No trial was pruned or stopped early.")
    rows = [
        (g.kind, g.trials, g.pruned, g.stopped_early, Html("<br>".join(esc(e) for e in g.examples)))
        for g in groups
    ]
    header = ("decision", "trials", "pruned", "stopped early", "example reasons")
    return table(header, rows, cls="stop-groups")


def _share(b: Bucket) -> str:
    return f"{pct(b.share.estimate)} ({pct(b.share.low)} to {pct(b.share.high)})"


def draw_pruner_bias(overall: Bucket | None, params: tuple[ParamBias, ...]) -> Html:
    if overall is None:
        return paragraph("No trial was pruned or stopped: the pruner has no bias to measure.")
    intro = paragraph(
        f"Share of trials pruned or stopped per value bucket of each parameter, with its 95 % "
        f"interval; over all {overall.trials} trials the search ended: {_share(overall)}. "
        "A bucket whose interval lies beside the overall share is pruned more (or less) than "
        "the rest; a small bucket's interval is wide."
    )
    parts = [intro]
    for p in params:
        rows = [(b.label, b.trials, b.stopped, _share(b)) for b in p.buckets]
        title = f"{p.name} ({p.role})" if p.role else p.name
        parts.append(Html(f"<h4>{esc(title)}</h4>"))
        parts.append(table(("bucket", "trials", "stopped", "share stopped (95 %)"), rows))
    return Html("".join(parts))
