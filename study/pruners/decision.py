"""A stop decision, recorded by the pruner when it makes it and taken by the objective.

Optuna's ``prune()`` answers yes or no. A :class:`Decider` decides once (``decide``: a
:class:`Decision` or None), and its ``prune()`` records that decision, keyed by study name and
trial number, for the objective to take after ``trial.should_prune()`` says yes. So the text a
user reads is the one the pruner decided on: no pruner is asked twice (Hyperband records state
as it decides), and the objective branches on the decision's ``kind``, never on its prose.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import optuna
from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial

from study import records

# The kinds of our own rules; a wrapped Optuna pruner's kind is its registry type name.
OVERFITTING = "overfitting"  # early stopping: the trial completes, scored at its best epoch
FLOOR = "floor"


@dataclass(frozen=True)
class Decision:
    """Why a trial stops: ``kind`` names the rule (``overfitting``, ``floor``, ``median``, ...),
    ``text`` says it with the numbers, as users read it in ``prune_reason``."""

    kind: str
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"kind must be a non-empty string, got {self.kind!r}")
        if not isinstance(self.text, str) or not self.text:
            raise ValueError(f"text must be a non-empty string, got {self.text!r}")


class Decider(BasePruner):
    """A pruner that says why: ``decide`` once per step; ``prune`` records what it decided."""

    kind: str = "decider"  # the registry type name
    # Only the overfitting rules may stop the baseline (early stopping): see ``may_prune``.
    stops_baseline: bool = False

    def __init__(self) -> None:
        self._recorded: dict[tuple[str, int], Decision] = {}

    @abc.abstractmethod
    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        """The decision for ``trial`` at its latest step, or None to let it run. Ask it once."""

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        decision = self.decide(study, trial)
        key = (study.study_name, trial.number)
        if decision is None:
            self._recorded.pop(key, None)  # what is recorded is always the latest answer
            return False
        self._recorded[key] = decision
        return True

    def take(self, study: Study, number: int) -> Decision | None:
        """The decision ``prune`` recorded for trial ``number`` (once: it is removed)."""
        return self._recorded.pop((study.study_name, number), None)


def generic_kind(pruner: BasePruner) -> str:
    """A pruner's kind from its class: ``MedianPruner`` -> ``median``, as the registry names it."""
    return type(pruner).__name__.removesuffix("Pruner").lower() or "pruner"


def generic_text(pruner: BasePruner, step: int | None, value: float) -> str:
    """The text for a pruner whose settings are unknown (not built by the registry)."""
    return f"pruned by {type(pruner).__name__} at epoch {step} (val top-1 {value:.3f})"


def may_prune(trial: optuna.Trial) -> bool:
    """Whether to ask the study's pruner about ``trial``: the baseline is never stopped as bad.

    A pruner that ``stops_baseline`` (the overfitting pruner) asks only its overfitting rules
    about the baseline (early stopping, which scores it at its best epoch); any other pruner has
    only bad-trial rules, so it is not asked.
    """
    pruner = trial.study.pruner
    stops_baseline = isinstance(pruner, Decider) and pruner.stops_baseline
    return not trial.user_attrs.get(records.BASELINE) or stops_baseline


def take_decision(trial: optuna.Trial, *, step: int, value: float) -> Decision:
    """The decision the study's pruner recorded: call it once ``trial.should_prune()`` is True.

    ``step`` and ``value`` (the epoch and val top-1 just reported) give the generic text of a
    plain Optuna pruner, which records nothing.
    """
    study = trial.study
    pruner = study.pruner
    recorded = pruner.take(study, trial.number) if isinstance(pruner, Decider) else None
    return recorded or Decision(generic_kind(pruner), generic_text(pruner, step, value))
