"""The pruner audit: which stopped trials ``audit-pruner`` reruns, and what their full runs say.

A stopped trial (PRUNED, or COMPLETE but stopped early for overfitting) is a *false prune*
when its full run, to the whole epoch budget, would finish in the top K of the study's other
COMPLETE trials (K = min(top, their number)): strictly above the K-th best of them. An
early-stopped trial already in that top K at its recorded value cost nothing: not false.
The rates carry 95 % Wilson intervals; the compute the pruner saved is read from every
stopped trial of the frame, audited or not.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from study import records
from study.analysis.audit_sample import (
    Compute,
    Sampled,
    audit_sample,
    compute_saved,
    estimated_seconds,
    floats,
    stop_kinds,
)
from study.analysis.findings import Interval
from study.analysis.inputs import TOP_TRIALS, AuditRun, ReportInputs, finished, noise_floor
from study.analysis.pruner_bias import stopped_mask, wilson

__all__ = [  # the command reads the sample and its time from here
    "AuditInfo",
    "AuditedTrial",
    "Compute",
    "Rate",
    "Sampled",
    "audit_sample",
    "estimated_seconds",
    "get_audit_info",
]

DEFAULT_SAMPLE = 20  # audit-pruner's --sample default
ALL_KINDS = "all kinds"
REPLAY_TOLERANCE = 0.005  # max |Δ val top-1| before the stop beyond which a rerun is another run
NOISE_SES = 2.0  # a cost within this many standard errors of a val top-1 is "within noise"


@dataclass(frozen=True)
class AuditedTrial:
    """One sampled trial whose full run finished, judged against the study's other trials."""

    trial: int
    kind: str
    stopped_epoch: int  # the last epoch of its original curves
    stopped_value: float  # its original val top-1 there
    full_value: float  # the full run's value (its best epoch's val top-1)
    rank: int  # the full run's would-be rank among the other COMPLETE trials (1 = best)
    k: int  # the K it was judged with (0: no other completed trial, not judged)
    threshold: float | None  # the K-th best value of the other completed trials
    false_prune: bool | None  # None: not judged
    overtook_epoch: int | None  # false prune: first epoch after the stop above stopped_value
    top_epoch: int | None  # false prune: first epoch above the threshold
    replay: float | None  # max |Δ val top-1| between rerun and original up to the stop


@dataclass(frozen=True)
class Rate:
    kind: str  # ALL_KINDS, or a decision kind
    stopped: int  # stopped trials of that kind in the study
    sampled: int
    audited: int  # judged full runs
    false_prunes: int
    rate: Interval | None  # false_prunes / audited with its 95 % Wilson interval
    sampled_share: float | None  # sampled / stopped


@dataclass(frozen=True)
class AuditInfo:
    study_name: str
    top: int
    stopped: int  # stopped trials in the study
    audited: bool  # audit-pruner has run for this study
    trials: tuple[AuditedTrial, ...] = ()  # by trial number
    rates: tuple[Rate, ...] = ()  # overall first, then per kind (largest first)
    compute: Compute | None = None
    best_value: float | None = None  # the study's best value
    best_full: float | None = None  # the best full run's value
    cost: float | None = None  # max(0, best_full - best_value)
    noise: float | None = None  # one standard error of a val top-1 at best_value
    replay: float | None = None  # the largest replay difference of any rerun
    pending: int = 0  # sampled trials with no finished rerun yet
    sample: tuple[Sampled, ...] = ()  # not audited: the sample it would take
    estimate: float | None = None  # ... and its estimated seconds
    command: str = ""
    notes: tuple[str, ...] = ()

    @property
    def false_prunes(self) -> tuple[AuditedTrial, ...]:
        return tuple(t for t in self.trials if t.false_prune)

    @property
    def within_noise(self) -> bool | None:
        if self.cost is None or self.noise is None or not math.isfinite(self.noise):
            return None
        return self.cost <= NOISE_SES * self.noise


def _first_above(curve: Sequence[float], value: float, after: int = 0) -> int | None:
    """The first epoch (1-based) later than ``after`` whose value is above ``value``."""
    return next((e for e, v in enumerate(curve, 1) if e > after and v > value), None)


def _judge(row: pd.Series, kind: str, run: AuditRun, desc: np.ndarray, top: int) -> AuditedTrial:
    """``desc``: every COMPLETE trial's value, best first (this trial's own among them when it
    is one: removed here)."""
    original = [float(v) for v in (row[records.CURVES] or {}).get(records.VAL_TOP1) or ()]
    epochs = (row[records.CURVES] or {}).get(records.EPOCH) or ()
    stopped_epoch = int(epochs[-1]) if epochs else len(original)
    own = float(row["value"]) if row["state"] == "COMPLETE" and pd.notna(row["value"]) else None
    if own is not None:  # remove one copy of its own value
        desc = np.delete(desc, int(np.searchsorted(-desc, -own, side="left")))
    k = min(top, len(desc))
    threshold = float(desc[k - 1]) if k else None
    rank = 1 + int(np.searchsorted(-desc, -run.value, side="left"))
    false = None
    if threshold is not None:
        already = bool(row[records.STOPPED_EARLY]) and own is not None and own > threshold
        false = run.value > threshold and not already
    shared = min(stopped_epoch, len(original), len(run.val_top1))
    diffs = [abs(a - b) for a, b in zip(original[:shared], run.val_top1[:shared], strict=True)]
    stopped_value = original[-1] if original else math.nan
    return AuditedTrial(
        trial=int(row["number"]),
        kind=kind,
        stopped_epoch=stopped_epoch,
        stopped_value=stopped_value,
        full_value=float(run.value),
        rank=rank,
        k=k,
        threshold=threshold,
        false_prune=false,
        overtook_epoch=_first_above(run.val_top1, stopped_value, stopped_epoch) if false else None,
        top_epoch=_first_above(run.val_top1, threshold) if false else None,
        replay=max(diffs) if diffs else None,
    )


def _rates(kinds: pd.Series, sample: Sequence[int], judged: Sequence[AuditedTrial]) -> list[Rate]:
    """Overall, then per kind (the most stopped first); ``kinds``: by trial number."""
    counts = kinds.value_counts()
    order = sorted(counts.index, key=lambda k: (-counts[k], k))
    sampled = kinds[kinds.index.isin(sample)].value_counts()
    rates = []
    for kind in (ALL_KINDS, *order):
        mine = [t for t in judged if kind in (ALL_KINDS, t.kind)]
        stopped = int(counts.sum() if kind == ALL_KINDS else counts[kind])
        drawn = int(sampled.sum() if kind == ALL_KINDS else sampled.get(kind, 0))
        false = sum(bool(t.false_prune) for t in mine)
        rates.append(
            Rate(kind, stopped, drawn, len(mine), false,
                 wilson(false, len(mine)) if mine else None, drawn / stopped if stopped else None)
        )  # fmt: skip
    return rates


def _audited(inputs: ReportInputs, kinds: pd.Series, top: int) -> tuple[dict, list[str]]:
    """The audit's fields of AuditInfo, and its notes."""
    frame, audit = inputs.frame, inputs.audit
    assert audit is not None
    rows = frame.set_index("number", drop=False)
    desc = -np.sort(-floats(finished(frame)["value"]))
    runs: dict[int, AuditRun] = {}
    for run in audit.runs:  # a trial rerun twice (two workers): its first run counts
        runs.setdefault(int(run.trial), run)
    notes = []
    missing = sorted(t for t in runs if t not in kinds.index)
    if missing:
        notes.append(f"{len(missing)} rerun trials are not stopped trials of this study: ignored")
    trials = tuple(
        _judge(rows.loc[t], str(kinds[t]), runs[t], desc, top)
        for t in sorted(runs)
        if t in kinds.index
    )
    judged = [t for t in trials if t.false_prune is not None]
    if len(judged) < len(trials):
        notes.append("no other trial completed, so a full run cannot be ranked: not judged")
    replays = [t.replay for t in trials if t.replay is not None]
    replay = max(replays) if replays else None
    if replay is not None and replay > REPLAY_TOLERANCE:
        notes.append(
            f"a rerun differs from its original by up to {100 * replay:.1f} points of val top-1 "
            "before the stop: the reruns are not the same runs (another machine, or a "
            "nondeterministic one), so a false prune says what this configuration could "
            "reach, not what that run would have"
        )
    best = float(desc[0]) if len(desc) else None
    best_full = max((t.full_value for t in trials), default=None)
    cost = None if best is None or best_full is None else max(0.0, best_full - best)
    pending = len(set(audit.sample) - set(runs))
    return dict(
        trials=trials,
        rates=tuple(_rates(kinds, audit.sample, judged)),
        best_value=best,
        best_full=best_full,
        cost=cost,
        noise=None if best is None else noise_floor(best, inputs.val_images),
        replay=replay,
        pending=pending,
    ), notes


def get_audit_info(inputs: ReportInputs, top: int = TOP_TRIALS) -> AuditInfo:
    """The audit's numbers, or (not audited yet) the sample it would take and its time."""
    frame = inputs.frame
    rows = frame[stopped_mask(frame).to_numpy(dtype=bool)]
    kinds = pd.Series(stop_kinds(rows).to_numpy(), index=rows["number"].to_numpy(dtype=int))
    command = shlex.join(["python", "-m", "study", "audit-pruner", "--study", inputs.study_name])
    info = AuditInfo(inputs.study_name, top, len(rows), inputs.audit is not None, command=command)
    if rows.empty:
        return replace(info, notes=("no trial was pruned or stopped early: nothing to audit",))
    info = replace(info, compute=compute_saved(frame))
    if inputs.audit is None:
        sample = audit_sample(frame, DEFAULT_SAMPLE)
        rates = tuple(_rates(kinds, [s.trial for s in sample], []))
        return replace(info, sample=sample, estimate=estimated_seconds(frame, sample), rates=rates)
    fields, notes = _audited(inputs, kinds, top)
    if not fields["trials"]:
        notes.append("no rerun has finished yet")
    if fields["pending"]:
        notes.append(
            f"{fields['pending']} sampled trials have no finished rerun yet (interrupted?): "
            "run the command again to resume"
        )
    return replace(info, **fields, notes=tuple(notes))
