"""The Optuna objective: one trial = one ``vitlab`` training run, reported epoch by epoch.

Each epoch the full curves go into the trial's user attrs *before* ``should_prune`` is asked, so
the pruner decides on the same numbers a person reads later. A trial stopped for overfitting is
early stopping, one of the seed's own fixes: it completes with the val top-1 of its best epoch and
keeps its reason. A trial that is simply bad (the wrapped pruner) is PRUNED, with its reason; the
baseline never is (``may_prune``). A trial that raises is FAILED with its error, and the study
goes on. Every trial's user attr ``ended`` says how it ended, in one line (``records.ENDED``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

from study import predictions, records
from study.dashboard.notes import write_trial_view
from study.pruners.decision import OVERFITTING, may_prune, take_decision
from study.rebuild import train_config
from study.run.interrupt import InterruptGate
from study.space.spec import SearchSpace
from vitlab.config import TrainConfig
from vitlab.dataset import Dataset
from vitlab.metrics import EpochMetrics
from vitlab.train import Trainer

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

__all__ = ["Objective", "TrialEvents"]
# How a trial ended (user attr records.ENDED): a short, stable text, then the reason or error.

ALL_EPOCHS, STOPPED_EARLY, PRUNED, FAILED = "all epochs", "stopped early", "pruned", "failed"


@dataclasses.dataclass
class TrialEvents:
    """Hooks for live progress (the terminal view); all optional."""

    on_start: Callable[[optuna.Trial, dict[str, Any]], None] = lambda trial, params: None
    on_epoch: Callable[[optuna.Trial, EpochMetrics, int], None] = lambda trial, m, epochs: None


class Objective:
    def __init__(
        self,
        space: SearchSpace,
        dataset: Dataset,
        *,
        device: str | None = None,
        seed: int = 0,
        events: TrialEvents | None = None,
        gate: InterruptGate | None = None,
        artifact_store: ArtifactStore | None = None,
        configure: Callable[[optuna.Trial, dict[str, Any]], TrainConfig] | None = None,
        on_trained: Callable[[optuna.Trial, Trainer], None] | None = None,
    ) -> None:
        self.space, self.dataset, self.device, self.seed = space, dataset, device, seed
        # A trial's TrainConfig from its parameters: the study's seed by default; an ablation
        # gives each run its own seed and epochs (study.ablate.measure).
        self.configure = configure or self._study_config
        self.artifact_store = artifact_store  # where each trial's curves.html goes
        # Called once a trial is trained (all epochs, or stopped early), with its trainer, which
        # then holds the best epoch's weights: the confirmation scores its test split there.
        self.on_trained = on_trained
        self.events = events or TrialEvents()
        # Without an installed gate, Ctrl-C behaves as Python's default.
        self.gate = gate or InterruptGate()
        # The trial being run, until Optuna has stored its end (see ``finished``).
        self.current: optuna.Trial | None = None

    def _study_config(self, trial: optuna.Trial, params: dict[str, Any]) -> TrainConfig:
        return train_config(self.space, params, seed=self.seed, device=self.device)

    def finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """An Optuna callback: the current trial's end is stored."""
        self.current = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial
        self.gate.check()
        trial.set_user_attr(records.WORKER, records.this_worker())
        params = self.space.suggest(trial)
        config = self.configure(trial, params)
        self.events.on_start(trial, params)
        try:
            value = self._train(trial, config)
        except optuna.TrialPruned:
            write_trial_view(trial, self.artifact_store)
            raise
        except UpdateFinishedTrialError:
            raise  # another worker failed this trial (a late heartbeat): nothing can be written
        except Exception as e:  # recorded on the trial; Optuna marks it FAIL and goes on
            error = f"{type(e).__name__}: {e}"
            records.write_trial_attrs(
                trial, {records.ERROR: error, records.ENDED: f"{FAILED}: {error}"}
            )
            raise
        # The dashboard's note and curves file: outside the gate, so Ctrl-C waits for them.
        write_trial_view(trial, self.artifact_store)
        return value

    def _write_predictions(self, trial: optuna.Trial, trainer: Trainer) -> None:
        """The best epoch's val predictions, as the trial's artifact (best-effort, like the
        dashboard view: a file that cannot be written is an ``artifact_error``, never a failed
        trial)."""
        if self.artifact_store is None or trainer.best_predictions is None:
            return
        try:
            predictions.upload(trial, self.artifact_store, trainer.best_predictions)
        except Exception as e:
            message = f"predictions: {type(e).__name__}: {e}"
            print(f"warning: trial {trial.number}: {message}", file=sys.stderr)
            records.add_artifact_error(trial, message)

    def _train(self, trial: optuna.Trial, config: Any) -> float:
        start = time.perf_counter()
        with self.gate.open():
            trainer = Trainer(
                config, dataset=self.dataset, progress=False, keep_best=self.on_trained is not None
            )
        records.write_trial_attrs(
            trial,
            {
                records.SEED: config.seed,
                records.DEVICE: str(trainer.device.device),
                records.NUM_PARAMS: trainer.num_params,
                records.PRETRAINED: config.pretrained,
                records.EPOCHS_PLANNED: config.epochs,
                records.CLASS_COVERAGE: trainer.class_filter.coverage,
            },
        )
        curves: dict[str, list[float]] = {}
        summary: dict[str, Any] = {}
        epochs = trainer.fit()
        try:
            while True:
                # Ctrl-C may stop training mid-epoch, but never the storage writes below.
                with self.gate.open():
                    m = next(epochs, None)
                if m is None:
                    break
                for key, value in m.as_dict().items():
                    curves.setdefault(key, []).append(value)
                best = trainer.best()
                assert best is not None
                # One storage write per epoch: the curves, which the pruner reads and which hold
                # every number below. The summary is written once, when the trial ends.
                trial.set_user_attr(records.CURVES, curves)
                summary = records.summary_attrs(curves, time.perf_counter() - start)
                trial.report(m.val_top1, step=m.epoch)
                self.events.on_epoch(trial, m, config.epochs)
                if m.epoch < config.epochs and may_prune(trial) and trial.should_prune():
                    # The pruner recorded its decision as it made it: take it, never ask again.
                    decision = take_decision(trial, step=m.epoch, value=m.val_top1)
                    summary[records.PRUNE_REASON] = decision.text
                    summary[records.STOP_KIND] = decision.kind
                    if decision.kind == OVERFITTING:
                        # Early stopping: the trial is finished and scored at its best epoch.
                        summary[records.STOPPED_EARLY] = True
                        summary[records.ENDED] = f"{STOPPED_EARLY}: {decision.text}"
                        break
                    summary[records.ENDED] = f"{PRUNED}: {decision.text}"
                    raise optuna.TrialPruned(decision.text)
            summary.setdefault(records.ENDED, ALL_EPOCHS)
        finally:
            records.write_trial_attrs(trial, summary)  # also when a trial fails or is interrupted
            self._write_predictions(trial, trainer)
        best = trainer.best()
        assert best is not None
        if self.on_trained is not None:
            with self.gate.open():  # the test score is a pass over a split: Ctrl-C may stop it
                self.on_trained(trial, trainer)
        return best.val_top1
