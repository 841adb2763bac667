"""A study whose answer is known: planted effects, run through real Optuna samplers.

The report's tests and its benchmark need studies where the truth is set by hand: parameter
``x`` adds ``effects[x]`` to val top-1 across its range, a null parameter adds nothing, and
what the report sees is that truth through the noise of a finite val split, image by image.

Each val image j has a fixed difficulty z_j; trial i gets image j right when
``rho * z_j + sqrt(1 - rho^2) * e_ij < Phi^-1(p_i)`` (e_ij fresh noise), so its expected
top-1 is exactly p_i, and two trials' errors overlap the way real models' do (the same hard
images), which is what the paired comparisons are for. Every trial is written with the same
user attrs a real trial gets (curves, best epoch, size, seconds, how it ended), so the report
reads it through :func:`study.frame.trials_frame` like any study.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from scipy.stats import norm

from study import predictions, records
from study.analysis.inputs import Predictions, ReportInputs, prediction_trials
from study.frame import trials_frame

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export


@dataclass(frozen=True)
class Planted:
    """The truth of a planted study. Effects are in val top-1 (0.05 = five points) from a
    parameter's low end to its high end, linear on its [0, 1] range; ``nulls`` add nothing."""

    effects: Mapping[str, float] = field(
        default_factory=lambda: {"weight_decay": 0.12, "aug_strength": -0.06}
    )
    nulls: tuple[str, ...] = ("drop_rate",)
    base: float = 0.40  # expected val top-1 with every parameter at its low end
    val_images: int = 326
    classes: int = 200
    rho: float = 0.8  # how much of an image's difficulty every trial shares
    epochs: int = 8
    baseline: Mapping[str, float] = field(
        default_factory=lambda: {"weight_decay": 0.1, "aug_strength": 0.0, "drop_rate": 0.0}
    )

    def __post_init__(self) -> None:
        if not 0 <= self.rho < 1:
            raise ValueError(f"rho must be in [0, 1), got {self.rho!r}")
        if self.val_images < 1 or self.classes < 2 or self.epochs < 1:
            raise ValueError(
                f"val_images, classes and epochs must be positive (classes >= 2), got "
                f"{self.val_images!r}, {self.classes!r}, {self.epochs!r}"
            )
        missing = set(self.names) - set(self.baseline)
        if missing:
            raise ValueError(f"baseline lacks a value for {sorted(missing)}")

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.effects, *self.nulls)

    def expected_top1(self, params: Mapping[str, float]) -> float:
        """The true val top-1 of a trial with ``params`` (clipped to [0.01, 0.99])."""
        p = self.base + sum(effect * params[name] for name, effect in self.effects.items())
        return min(max(p, 0.01), 0.99)


@dataclass(frozen=True)
class _Split:
    """The planted val split: labels, difficulty, and a long-tailed train count per class."""

    labels: np.ndarray
    difficulty: np.ndarray
    train_counts: np.ndarray

    @classmethod
    def draw(cls, planted: Planted, rng: np.random.Generator) -> _Split:
        # A Zipf-like tail: a few classes with hundreds of train images, many with one or two.
        ranks = np.arange(1, planted.classes + 1)
        train_counts = np.maximum(1, np.round(300 / ranks**0.9)).astype(np.int64)
        weights = train_counts / train_counts.sum()
        labels = rng.choice(planted.classes, size=planted.val_images, p=weights)
        return cls(labels, rng.standard_normal(planted.val_images), train_counts)


def planted_study(
    planted: Planted,
    trials: int,
    *,
    seed: int = 0,
    sampler: optuna.samplers.BaseSampler | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str = "planted",
    prune_below: float | None = None,
    store: ArtifactStore | None = None,
) -> tuple[optuna.Study, dict[int, Predictions]]:
    """A finished study of ``trials`` trials (the baseline first) and every trial's predictions.

    ``sampler`` defaults to seeded TPE; ``prune_below`` (a fraction under the baseline's
    expected top-1) prunes trials expected below it at half their epochs, as a floor would.
    With ``store``, every trial's predictions are also uploaded as a run uploads them.
    """
    rng = np.random.default_rng(seed)
    split = _Split.draw(planted, rng)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        sampler=sampler or optuna.samplers.TPESampler(seed=seed),
    )
    _record(study, planted, split)
    study.enqueue_trial(dict(planted.baseline))
    found: dict[int, Predictions] = {}
    base_p = planted.expected_top1(planted.baseline)
    for _ in range(trials):
        trial = study.ask()
        params = {name: trial.suggest_float(name, 0.0, 1.0) for name in planted.names}
        p = planted.expected_top1(params)
        pred = _predictions(planted, split, p, rng)
        found[trial.number] = pred
        pruned = prune_below is not None and p < base_p - prune_below and trial.number > 0
        epochs = max(1, planted.epochs // 2) if pruned else planted.epochs
        curves = _curves(pred.top1, epochs, planted, rng)
        attrs = _trial_attrs(trial.number == 0, curves, params, pruned)
        records.write_trial_attrs(trial, attrs)
        if store is not None:
            predictions.upload(trial, store, np.stack([pred.labels, pred.predicted]))
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, attrs[records.best_key(records.VAL_TOP1)])
    return study, found


def planted_inputs(planted: Planted, trials: int, *, seed: int = 0, **kwargs: Any) -> ReportInputs:
    """The report's inputs for a planted study (in memory unless ``storage`` is given)."""
    study, found = planted_study(planted, trials, seed=seed, **kwargs)
    frame = trials_frame(study)
    keep = set(prediction_trials(frame))
    return ReportInputs(
        study_name=study.study_name,
        frame=frame,
        study=records.StudyRecord.from_study(study),
        predictions={n: p for n, p in found.items() if n in keep},
    )


def _record(study: optuna.Study, planted: Planted, split: _Split) -> None:
    params = {
        name: {"type": "float", "low": 0.0, "high": 1.0, "role": "scientific"}
        for name in planted.names
    }
    val = np.bincount(split.labels, minlength=planted.classes)
    total = split.train_counts + 2 * val  # val and test alike
    records.StudyRecord(
        dataset_fingerprint="planted",
        data_source="planted",
        split_summary={
            "classes": planted.classes,
            "images_per_split": {
                "train": int(split.train_counts.sum()),
                "val": planted.val_images,
                "test": planted.val_images,
            },
        },
        space={"name": study.study_name, "params": params, "fixed": {"epochs": planted.epochs}},
        roles={name: "scientific" for name in planted.names},
        baseline_params=dict(planted.baseline),
        train_seed=0,
        train_counts=[int(c) for c in split.train_counts],
        classes=[f"class_{i:04d}" for i in range(planted.classes)],
        class_counts=[int(c) for c in total],
    ).write(study)


def _predictions(
    planted: Planted, split: _Split, p: float, rng: np.random.Generator
) -> Predictions:
    noise = rng.standard_normal(planted.val_images)
    latent = planted.rho * split.difficulty + math.sqrt(1 - planted.rho**2) * noise
    correct = latent < norm.ppf(p)
    # A wrong answer is most often the next class (a confusable neighbour), else any other.
    wrong = np.where(
        rng.random(planted.val_images) < 0.6,
        (split.labels + 1) % planted.classes,
        (split.labels + rng.integers(2, planted.classes, planted.val_images)) % planted.classes,
    )
    return Predictions(labels=split.labels, predicted=np.where(correct, split.labels, wrong))


def _curves(
    top1: float, epochs: int, planted: Planted, rng: np.random.Generator
) -> dict[str, list[float]]:
    """Per-epoch curves that peak at ``top1`` near the end while train top-1 keeps rising."""
    t = np.arange(1, epochs + 1) / planted.epochs
    val = top1 * (1 - np.exp(-4 * t)) / (1 - math.exp(-4)) + rng.normal(0, 0.004, epochs)
    val = np.minimum(val, top1)
    val[-1 if epochs < planted.epochs else int(0.8 * (epochs - 1))] = top1  # the best epoch
    train = np.minimum(0.99, val + 0.5 * t**1.5)
    chance_loss = math.log(planted.classes)
    loss = chance_loss * (1 - 0.7 * val) + 0.3 * np.maximum(0, t - 0.7)
    return {
        records.EPOCH: [int(e) for e in range(1, epochs + 1)],
        records.TRAIN_LOSS: [float(x) for x in loss * 0.8],
        records.TRAIN_TOP1: [float(x) for x in train],
        records.TRAIN_PROBE_LOSS: [float(x) for x in loss * 0.7],
        records.VAL_LOSS: [float(x) for x in loss],
        records.VAL_TOP1: [float(x) for x in val],
        "val_top5": [float(min(1.0, x + 0.2)) for x in val],
        "val_top1_kept": [float(x) for x in val],
        "class_coverage": [1.0] * epochs,
        records.GAP: [float(x) for x in train - val],
        "lr": [1e-3] * epochs,
        "epoch_seconds": [2.0] * epochs,
        records.THROUGHPUT: [500.0] * epochs,
    }


def _trial_attrs(
    baseline: bool, curves: dict[str, list[float]], params: Mapping[str, float], pruned: bool
) -> dict[str, Any]:
    seconds = 2.0 * len(curves[records.EPOCH])
    attrs: dict[str, Any] = {
        records.BASELINE: baseline,
        records.CURVES: curves,
        records.NUM_PARAMS: int(100_000 + 400_000 * next(iter(params.values()), 0.5)),
        records.SEED: 0,
        records.DEVICE: "cpu",
        records.EPOCHS_PLANNED: len(curves[records.EPOCH]) * (2 if pruned else 1),
        **records.summary_attrs(curves, seconds),
    }
    if pruned:
        attrs[records.STOP_KIND] = "floor"
        attrs[records.PRUNE_REASON] = "val top-1 below half the baseline's at this epoch"
    return attrs
