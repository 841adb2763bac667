"""Prune a trial as soon as any one of several pruners would.

Optuna's pruners each hold one rule with one warm-up. A study often wants two: a fixed floor that
stops a trial which is not learning after a few epochs (it needs no other trials), and a median
that stops mediocre trials once enough trials have finished and the curves say something (later).
``AnyOfPruner`` asks its pruners in order, each at most once a step, and the first decision is
its decision: it names that rule and its numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial

from study.pruners.decision import Decider, Decision
from study.pruners.optuna_rules import as_decider


class AnyOfPruner(Decider):
    """Prune when any of ``pruners`` prunes; they are asked in order, and the first yes decides.

    A plain Optuna pruner among them is wrapped (:func:`as_decider`) and decides with a generic
    text; the registry builds its members as deciders that know their settings.
    """

    kind = "any"

    def __init__(self, pruners: Sequence[BasePruner]) -> None:
        if isinstance(pruners, str | bytes) or not isinstance(pruners, Sequence) or not pruners:
            raise ValueError(f"pruners must be a non-empty list of optuna pruners, got {pruners!r}")
        for p in pruners:
            if not isinstance(p, BasePruner):
                raise TypeError(f"pruners must be optuna pruners, got {p!r}")
        super().__init__()
        self.pruners: tuple[Decider, ...] = tuple(as_decider(p) for p in pruners)

    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        """The first member's decision at ``trial``'s latest step; later members are not asked."""
        for member in self.pruners:
            if (decision := member.decide(study, trial)) is not None:
                return decision
        return None
