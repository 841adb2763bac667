"""Section 3, overfitting diagnostics: what kind of failure each trial shows, and its curves.

Every trial that ran (COMPLETE, PRUNED or FAIL) with curves is classified by
:func:`study.analysis.failure.classify` (the kinds and their thresholds are documented there);
the page counts them by kind and gives the baseline's and the best trial's evidence. Then the
train and val curves of the baseline and the TOP_TRIALS best, their gap against the quartiles of
every finished trial's, the stopped trials by decision kind, the pruner's bias
(:mod:`study.analysis.pruner_bias`) and its audit (:mod:`study.analysis.audit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from study import records
from study.analysis.audit import AuditInfo, get_audit_info
from study.analysis.audit_draw import draw_audit
from study.analysis.failure import KINDS, Diagnosis, classify, epochs_from_curves
from study.analysis.inputs import (
    TOP_TRIALS,
    ReportInputs,
    baseline_row,
    best_row,
    finished,
    prediction_trials,
)
from study.analysis.markup import Html, bullets, esc, paragraph, table
from study.analysis.pruner_bias import (
    Bucket,
    ParamBias,
    StopGroup,
    draw_pruner_bias,
    draw_stop_groups,
    pruner_bias,
    stop_groups,
)

JUDGED_STATES = ("COMPLETE", "PRUNED", "FAIL")  # trials that ran to an end: their curves are whole
EXAMPLE_TRIALS = 5  # trial numbers listed per kind


@dataclass(frozen=True)
class KindCount:
    kind: str  # one of failure.KINDS
    trials: int
    examples: tuple[int, ...]  # the first EXAMPLE_TRIALS trial numbers of that kind


@dataclass(frozen=True)
class TrialDiagnosis:
    number: int
    label: str  # "baseline", "best" or "baseline and best"
    diagnosis: Diagnosis


@dataclass(frozen=True)
class Curve:
    """One shown trial's per-epoch curves (top-1 as fractions); a missing curve is ()."""

    number: int
    label: str  # "baseline", "best", "2nd", ...
    epochs: tuple[int, ...]
    train_top1: tuple[float, ...]
    val_top1: tuple[float, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    gap: tuple[float, ...]
    best_epoch: int | None


@dataclass(frozen=True)
class GapBand:
    """The train - val top-1 gap of the finished trials at one epoch: median and quartiles."""

    epoch: int
    trials: int
    median: float
    low: float  # 25th percentile
    high: float  # 75th percentile


@dataclass(frozen=True)
class DiagnosticsInfo:
    classes: int | None  # what "chance" is counted over (None: unknown, nothing classified)
    judged: int  # trials classified
    kinds: tuple[KindCount, ...]  # in KINDS order, only kinds found
    shown: tuple[TrialDiagnosis, ...]  # the baseline's and the best's
    curves: tuple[Curve, ...]  # the baseline and the TOP_TRIALS best
    gap: tuple[GapBand, ...]
    stops: tuple[StopGroup, ...]
    stopped_share: Bucket | None  # over every trial the search ended
    bias: tuple[ParamBias, ...]
    audit: AuditInfo  # what the pruner threw away, as rerun by audit-pruner
    note: str | None = None


def _classes(inputs: ReportInputs) -> int | None:
    n = len(inputs.study.classes) or int(inputs.study.split_summary.get("classes", 0) or 0)
    return n if n >= 2 else None


def _diagnoses(frame: pd.DataFrame, classes: int, val_images: int | None) -> dict[int, Diagnosis]:
    rows = frame[frame["state"].isin(JUDGED_STATES).fillna(False)]
    found = {}
    for number, curves in zip(rows["number"], rows["curves"], strict=True):
        epochs = epochs_from_curves(curves or {})
        if epochs:
            found[int(number)] = classify(epochs, classes, val_images)
    return found


def _kinds(diagnoses: Mapping[int, Diagnosis]) -> tuple[KindCount, ...]:
    by_kind: dict[str, list[int]] = {}
    for number, d in sorted(diagnoses.items()):
        by_kind.setdefault(d.kind, []).append(number)
    return tuple(
        KindCount(k, len(by_kind[k]), tuple(by_kind[k][:EXAMPLE_TRIALS]))
        for k in KINDS
        if k in by_kind
    )


def _shown(frame: pd.DataFrame, diagnoses: Mapping[int, Diagnosis]) -> tuple[TrialDiagnosis, ...]:
    labels: dict[int, list[str]] = {}
    for label, row in (("baseline", baseline_row(frame)), ("best", best_row(frame))):
        if row is not None:
            labels.setdefault(int(row["number"]), []).append(label)
    return tuple(
        TrialDiagnosis(n, " and ".join(names), diagnoses[n])
        for n, names in labels.items()
        if n in diagnoses
    )


def _floats(curves: Mapping[str, Sequence[float]], key: str) -> tuple[float, ...]:
    return tuple(float(x) for x in curves.get(key) or ())


def _gap_of(curves: Mapping[str, Sequence[float]]) -> tuple[float, ...]:
    gap = _floats(curves, records.GAP)
    if gap:
        return gap
    train, val = _floats(curves, records.TRAIN_TOP1), _floats(curves, records.VAL_TOP1)
    return tuple(t - v for t, v in zip(train, val, strict=False))


def _ordinal(rank: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank if rank < 20 else rank % 10, "th")
    return f"{rank}{suffix}"


def _label(number: int, base: int | None, top: list[int]) -> str:
    rank = top.index(number) + 1 if number in top else None
    name = None if rank is None else ("best" if rank == 1 else _ordinal(rank))
    if number == base:
        return "baseline" if name is None else f"baseline ({name})"
    return str(name)


def _curves(frame: pd.DataFrame) -> tuple[Curve, ...]:
    rows = finished(frame).sort_values(["value", "number"], ascending=[False, True])
    top = [int(n) for n in rows["number"].head(TOP_TRIALS)]
    base = baseline_row(frame)
    base_number = None if base is None else int(base["number"])
    by_number = frame.set_index("number")
    shown = []
    for n in prediction_trials(frame):
        row = by_number.loc[n]
        curves = row["curves"] or {}
        best = row[records.BEST_EPOCH]
        shown.append(
            Curve(
                number=int(n),
                label=_label(n, base_number, top),
                epochs=tuple(int(e) for e in curves.get(records.EPOCH) or ()),
                train_top1=_floats(curves, records.TRAIN_TOP1),
                val_top1=_floats(curves, records.VAL_TOP1),
                train_loss=_floats(curves, records.TRAIN_LOSS),
                val_loss=_floats(curves, records.VAL_LOSS),
                gap=_gap_of(curves),
                best_epoch=None if pd.isna(best) else int(best),
            )
        )
    return tuple(shown)


def _gap_bands(frame: pd.DataFrame) -> tuple[GapBand, ...]:
    by_epoch: dict[int, list[float]] = {}
    for curves in finished(frame)["curves"]:
        epochs = (curves or {}).get(records.EPOCH) or ()
        for epoch, gap in zip(epochs, _gap_of(curves or {}), strict=False):
            if np.isfinite(gap):
                by_epoch.setdefault(int(epoch), []).append(gap)
    bands = []
    for epoch in sorted(by_epoch):
        low, median, high = np.quantile(by_epoch[epoch], [0.25, 0.5, 0.75])
        bands.append(GapBand(epoch, len(by_epoch[epoch]), float(median), float(low), float(high)))
    return tuple(bands)


def get_diagnostics_info(inputs: ReportInputs) -> DiagnosticsInfo:
    """Section 3's numbers: plain data, from the trials frame and the study record only."""
    frame, classes = inputs.frame, _classes(inputs)
    diagnoses = _diagnoses(frame, classes, inputs.val_images or None) if classes else {}
    overall, bias = pruner_bias(frame, inputs.study.space, inputs.study.roles)
    note = None
    if classes is None:
        note = "the study record has no class count, so no trial's curves could be classified"
    elif not diagnoses:
        note = "no trial has curves to classify yet"
    return DiagnosticsInfo(
        classes=classes,
        judged=len(diagnoses),
        kinds=_kinds(diagnoses),
        shown=_shown(frame, diagnoses),
        curves=_curves(frame),
        gap=_gap_bands(frame),
        stops=stop_groups(frame),
        stopped_share=overall,
        bias=bias,
        audit=get_audit_info(inputs),
        note=note,
    )


KIND_WORDS = {
    "val_at_chance": "val at chance while train learns: a data or label problem, not overfitting",
    "overfitting": "val loss turned up while train loss fell, val top-1 above chance",
    "underfitting": "train top-1 low and both losses high",
    "healthy": "none of these",
    "no_epochs": "no epochs to judge",
}


def _draw_kinds(info: DiagnosticsInfo) -> Html:
    parts = [paragraph(info.note)] if info.note else []
    chance = next((k for k in info.kinds if k.kind == "val_at_chance"), None)
    if chance is not None:
        parts.append(
            Html(
                f'<p class="warning"><strong>{chance.trials} of {info.judged} trials have val at '
                "chance while train learns.</strong> Check that val labels map to the same class "
                "indices as train before reading anything else on this page.</p>"
            )
        )
    if info.kinds:
        rows = [
            (k.kind, KIND_WORDS[k.kind], k.trials, ", ".join(f"#{n}" for n in k.examples))
            for k in info.kinds
        ]
        parts.append(
            paragraph(
                f"Each of the {info.judged} trials that ran, classified from its curves (chance: "
                f"1 / {info.classes:,} classes):"
            )
        )
        parts.append(table(("kind", "meaning", "trials", "for example"), rows, cls="kinds"))
    for t in info.shown:
        head = f"{t.label} (trial #{t.number}): {t.diagnosis.headline}"
        parts.append(Html(f"<h4>{esc(head)}</h4>"))
        parts.append(bullets(t.diagnosis.evidence))
    return Html("".join(parts))


def draw_diagnostics(info: DiagnosticsInfo) -> Html:
    """Section 3 as HTML: kinds, the two diagnoses, curves, gap, stops, pruner bias."""
    from study.analysis.diagnostics_figures import draw_curves, draw_gap

    parts = [
        Html("<h3>What kind of failure is this?</h3>"),
        _draw_kinds(info),
        Html("<h3>Curves of the baseline and the best trials</h3>"),
        draw_curves(info.curves),
        Html("<h3>The gap over epochs</h3>"),
        draw_gap(info.curves, info.gap),
        Html("<h3>Stopped and pruned trials, by decision</h3>"),
        draw_stop_groups(info.stops),
        Html("<h3>The pruner's bias, as measured</h3>"),
        draw_pruner_bias(info.stopped_share, info.bias),
        draw_audit(info.audit),
    ]
    return Html("".join(parts))
