"""The real measurement of a run: the study's objective, trained on the study's split with the
run's seed and epochs, stopped early only by the study's overfitting rules."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.pruners import NopPruner

from study.ablate.runs import RUN_EPOCHS, RUN_SEED, RunSpec
from study.ablate.worker import Measure
from study.pruners.registry import DEFAULT_PRUNER_SETTINGS, build_pruner
from study.rebuild import StudyRun
from study.run.interrupt import InterruptGate
from study.run.objective import Objective
from study.space.spec import SearchSpace
from vitlab.config import TrainConfig
from vitlab.dataset import Dataset
from vitlab.train import Trainer

__all__ = ["early_stopping_pruner", "trainer_measure"]


def early_stopping_pruner(space: SearchSpace) -> optuna.pruners.BasePruner:
    """The study's overfitting rules without the pruners it wraps: a design point that is
    simply bad must still be measured, or the design is biased; one that overfits is stopped
    and scored at its best epoch, as in the study."""
    settings: Mapping[str, Any] = space.pruner or DEFAULT_PRUNER_SETTINGS
    if str(settings.get("type", "")).lower() != "overfitting":
        return NopPruner()  # the study stops no trial for overfitting: neither does this
    return build_pruner({k: v for k, v in settings.items() if k != "wrapped"})


def trainer_measure(
    run: StudyRun,
    *,
    device: str | None,
    gate: InterruptGate,
    artifacts: Path,
    out: Any = None,
    dataset: Dataset | None = None,
    on_trained: Callable[[optuna.Trial, Trainer], None] | None = None,
) -> Measure:
    """Train each run as the study trained its trials (the same objective, so the run keeps its
    curves, val predictions and dashboard view); the dataset is read once, here, unless given.
    ``on_trained`` is the objective's hook after training (the confirmation's test score)."""
    dataset = dataset or run.dataset(out or sys.stdout)
    artifacts.mkdir(parents=True, exist_ok=True)

    def configure(trial: optuna.Trial, params: Mapping[str, Any]) -> TrainConfig:
        attrs = trial.user_attrs
        return run.config(
            params, seed=int(attrs[RUN_SEED]), epochs=int(attrs[RUN_EPOCHS]), device=device
        )

    objective = Objective(
        run.space,
        dataset,
        device=device,
        gate=gate,
        artifact_store=FileSystemArtifactStore(artifacts.resolve()),
        configure=configure,
        on_trained=on_trained,
    )

    def measure(trial: optuna.Trial, spec: RunSpec) -> float:
        objective.current = trial
        return objective(trial)

    return measure
