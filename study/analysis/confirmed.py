"""The "Confirmed on held-out test" section: does the search's winner hold on images no
selection step has seen (``python -m study confirm``'s reruns)?

Per configuration: the search's val top-1 (the value it was selected on), the reruns' val mean
with its 95 % t-interval over seeds (same images as the search: seed noise only), and the test
mean with a 95 % interval that adds, in quadrature, the seeds' t half-width and the binomial
sampling of the n test images. The optimism is the search's val minus the test mean; it splits
into the selection's share (search val minus rerun val: the winner's curse) and the split's
(rerun val minus rerun test). Then Kendall's tau between the val order and the test order, and
paired comparisons on the same test images: per image, each configuration's correctness
averaged over its runs; the difference's 95 % interval adds the images' paired spread and the
seeds' spread of both means (conservative: a shared seed shift is counted once more).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau
from scipy.stats import t as student_t

from study import records
from study.analysis.confirmed_compare import Comparison, comparisons, verdict
from study.analysis.findings import Interval
from study.analysis.groups import mean_interval
from study.analysis.inputs import ConfirmConfig, ConfirmRun, ConfirmRuns, Predictions, ReportInputs
from study.analysis.tail import bucket_names

Z = 1.96
MIN_TAU_CONFIGS = 3  # below this many configurations, tau is +-1 or undefined: it says nothing


@dataclass(frozen=True)
class ConfirmedRow:
    trial: int
    role: str  # "winner", "#2", ..., with "(baseline)" on the baseline
    baseline: bool
    search_val: float
    runs: int
    planned: int
    val: Interval | None  # the reruns' val mean, 95 % t-interval over seeds (None: no run)
    test: Interval | None  # the reruns' test mean, seeds and test images in quadrature
    optimism: float | None  # search_val - test mean
    selection: float | None  # search_val - val mean: the selection's share
    shift: float | None  # val mean - test mean: the split's share
    # The same on the val images of the classes the test split has (val also holds rarer
    # classes, which have no test image): like with like. None without val predictions.
    search_like: float | None
    val_like: Interval | None
    like_selection: float | None  # search_like - val_like
    like_shift: float | None  # val_like - test mean
    buckets: tuple[float | None, ...]  # test top-1 per bucket (ConfirmedInfo.buckets), mean of runs


@dataclass(frozen=True)
class ConfirmedInfo:
    study_name: str
    confirmed: bool  # ``confirm`` has run for this study
    command: str  # the command that runs (or resumes) it
    rows: tuple[ConfirmedRow, ...] = ()
    seeds: tuple[int, ...] = ()
    buckets: tuple[str, ...] = ()
    tau: float | None = None
    tau_p: float | None = None
    tau_configs: int = 0
    comparisons: tuple[Comparison, ...] = ()
    verdict: str = ""
    settle: str | None = None  # what would settle a comparison within noise
    test_images: int = 0
    test_classes: int = 0
    classes: int = 0
    thin_classes: int = 0
    notes: tuple[str, ...] = ()


def get_confirmed_info(inputs: ReportInputs) -> ConfirmedInfo:
    """The section from the confirmation's runs (``inputs.confirm``)."""
    command = shlex.join(["python", "-m", "study", "confirm", "--study", inputs.study_name])
    runs = inputs.confirm
    if runs is None or not runs.configs:
        return ConfirmedInfo(inputs.study_name, False, command)
    notes: list[str] = []
    edges, member = _buckets(inputs, runs, notes)
    names = bucket_names(edges) if member is not None else ()
    classes = _test_classes(runs)
    like = (inputs, classes)
    rows = tuple(_row(i, c, runs, member, len(names), like) for i, c in enumerate(runs.configs))
    tau, tau_p, n_tau = _tau(rows, notes)
    compared = comparisons(runs, rows, notes)
    said, settle = verdict(rows, compared, runs.test_images)
    pending = sum(r.planned - r.runs for r in rows)
    if pending:
        notes.append(f"{pending} runs not finished yet: resume with {command}.")
    return ConfirmedInfo(
        study_name=inputs.study_name,
        confirmed=True,
        command=command,
        rows=rows,
        seeds=runs.seeds,
        buckets=names,
        tau=tau,
        tau_p=tau_p,
        tau_configs=n_tau,
        comparisons=compared,
        verdict=said,
        settle=settle,
        test_images=runs.test_images,
        test_classes=runs.test_classes,
        classes=runs.classes,
        thin_classes=runs.thin_classes,
        notes=tuple(notes),
    )


def held_out_interval(values: Sequence[float], images: int) -> Interval | None:
    """The mean test top-1 of ``values`` (one per run) with the seeds' t half-width and the
    binomial half-width of ``images`` test images in quadrature (one run: binomial only)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return None
    mean = float(x.mean())
    seeds = 0.0
    if len(x) > 1:
        seeds = float(student_t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    sampling = Z * math.sqrt(max(mean * (1 - mean), 0.0) / images) if images > 0 else 0.0
    half = math.hypot(seeds, sampling)
    return Interval(mean, mean - half, mean + half)


def _clip(i: Interval | None) -> Interval | None:
    """A top-1 interval kept within [0, 1] (two seeds' t-interval can run past both); one
    run's infinite interval stays infinite: the page says it has none."""
    if i is None or not (math.isfinite(i.low) and math.isfinite(i.high)):
        return i
    return Interval(i.estimate, max(0.0, i.low), min(1.0, i.high))


def _test_classes(runs: ConfirmRuns) -> np.ndarray | None:
    """The classes with test images (every run scores the same test images)."""
    for r in runs.runs:
        if r.test is not None:
            return np.unique(r.test.labels)
    return None


def _mine(runs: ConfirmRuns, trial: int) -> list[ConfirmRun]:
    return [r for r in runs.runs if r.trial == trial]


def _role(i: int, c: ConfirmConfig) -> str:
    role = "winner" if i == 0 else f"#{i + 1}"
    return f"{role} (baseline)" if c.baseline else role


def _on(pred: Predictions | None, classes: np.ndarray | None) -> float | None:
    """Top-1 of ``pred`` over the images of ``classes`` (None: no predictions or classes)."""
    if pred is None or classes is None:
        return None
    keep = np.isin(pred.labels, classes)
    return float(pred.correct[keep].mean()) if keep.any() else None


def _like(
    c: ConfirmConfig,
    mine: Sequence[ConfirmRun],
    inputs: ReportInputs,
    classes: np.ndarray | None,
    test: Interval | None,
) -> tuple[float | None, Interval | None, float | None, float | None]:
    """search_like, val_like, like_selection, like_shift (ConfirmedRow's)."""
    search = _on(inputs.predictions.get(c.trial), classes)
    val = mean_interval([v for r in mine if (v := _on(r.val, classes)) is not None])
    return (
        search,
        val,
        None if search is None or val is None else search - val.estimate,
        None if val is None or test is None else val.estimate - test.estimate,
    )


def _row(
    i: int,
    c: ConfirmConfig,
    runs: ConfirmRuns,
    member: np.ndarray | None,
    buckets: int,
    like: tuple[ReportInputs, np.ndarray | None],
) -> ConfirmedRow:
    mine = _mine(runs, c.trial)
    val = _clip(mean_interval([r.val_top1 for r in mine]))
    test = _clip(held_out_interval([r.test_top1 for r in mine], runs.test_images))
    per_bucket: tuple[float | None, ...] = ()
    if member is not None:
        per_bucket = _bucket_top1(mine, member, buckets)
    search_like, val_like, like_selection, like_shift = _like(c, mine, like[0], like[1], test)
    return ConfirmedRow(
        trial=c.trial,
        role=_role(i, c),
        baseline=c.baseline,
        search_val=c.search_val,
        runs=len(mine),
        planned=len(runs.seeds),
        val=val,
        test=test,
        optimism=None if test is None else c.search_val - test.estimate,
        selection=None if val is None else c.search_val - val.estimate,
        shift=None if val is None or test is None else val.estimate - test.estimate,
        buckets=per_bucket,
        search_like=search_like,
        val_like=val_like,
        like_selection=like_selection,
        like_shift=like_shift,
    )


def _buckets(
    inputs: ReportInputs, runs: ConfirmRuns, notes: list[str]
) -> tuple[tuple[int, ...], np.ndarray | None]:
    """The bucket edges, and each class's bucket (None: the study records no train counts)."""
    report = inputs.study.space.get("report", {}) or {}
    edges = tuple(int(e) for e in report.get("bucket_edges", records.DEFAULT_BUCKET_EDGES))
    counts = np.asarray(inputs.study.train_counts or [], dtype=int)
    if len(counts) == 0 or not any(r.test is not None for r in runs.runs):
        notes.append("No train counts or test predictions: test top-1 per bucket not shown.")
        return edges, None
    return edges, np.searchsorted(np.array(edges), counts, side="left")


def _bucket_top1(
    mine: Sequence[ConfirmRun], member: np.ndarray, buckets: int
) -> tuple[float | None, ...]:
    found: list[list[float]] = [[] for _ in range(buckets)]
    for r in mine:
        if r.test is None:
            continue
        of = member[r.test.labels]
        for b in range(buckets):
            here = of == b
            if here.any():
                found[b].append(float(r.test.correct[here].mean()))
    return tuple(float(np.mean(v)) if v else None for v in found)


def _tau(rows: Sequence[ConfirmedRow], notes: list[str]) -> tuple[float | None, float | None, int]:
    done = [r for r in rows if r.test is not None]
    if len(done) < MIN_TAU_CONFIGS:
        notes.append(
            f"Kendall's tau needs {MIN_TAU_CONFIGS} configurations with runs, {len(done)} have "
            "them: with fewer, the order on test says nothing beyond the paired comparisons."
        )
        return None, None, len(done)
    result = kendalltau([r.search_val for r in done], [r.test.estimate for r in done])  # type: ignore[union-attr]
    tau, p = float(result.statistic), float(result.pvalue)
    return (None if math.isnan(tau) else tau), (None if math.isnan(p) else p), len(done)
