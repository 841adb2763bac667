"""Which configurations ``confirm`` reruns, with which seeds: the search's top K by val top-1
(distinct parameters, ties to the earlier trial) and the baseline, each with S fresh seeds.

The seeds start after the study's own: the search's seed would replay, on the same machine, the
very run the search selected (its lucky draw included), and the point is a fresh draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.ablate.runs import RunSpec, run_key
from study.analysis.inputs import ConfirmConfig
from vitlab.errors import UserError

__all__ = [
    "CONFIGS_ATTR",
    "DEFAULT_SEEDS",
    "DEFAULT_TOP",
    "SUFFIX",
    "TEST_ATTR",
    "Chosen",
    "choose",
    "confirm_seeds",
    "run_specs",
]

SUFFIX = ":confirm"  # the linked study <study>:confirm holds the runs
DEFAULT_TOP, DEFAULT_SEEDS = 5, 3
CONFIGS_ATTR = "confirm_configs"  # linked study attr: the chosen configurations (Chosen.record)
TEST_ATTR = "confirm_test"  # linked study attr: the test split's size and class coverage


@dataclass(frozen=True)
class Chosen:
    """One configuration to confirm: its search trial, and every parameter it trained with."""

    config: ConfirmConfig
    params: Mapping[str, Any]

    def record(self, seeds: Sequence[int], epochs: int) -> dict[str, Any]:
        """What the linked study keeps, so the report finds each run by its key."""
        return {
            "trial": self.config.trial,
            "search_val": self.config.search_val,
            "baseline": self.config.baseline,
            "params": dict(self.params),
            "seeds": list(seeds),
            "epochs": epochs,
            "keys": [run_key(self.params, s, epochs) for s in seeds],
        }


def choose(study: optuna.Study, top: int) -> tuple[Chosen, ...]:
    """The ``top`` best finished trials of distinct parameters, best first, then the baseline
    when it is not among them; UserError when no trial finished."""
    if top < 1:
        raise UserError(f"--top {top}: expected at least 1")
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not done:
        raise UserError(f"study {study.study_name!r} has no finished trial to confirm")
    ranked = sorted(done, key=lambda t: (-float(t.value or 0.0), t.number))
    seen: set[str] = set()
    chosen: list[FrozenTrial] = []
    for t in ranked:
        identity = _identity(t.params)
        if identity not in seen and len(chosen) < top:
            chosen.append(t)
        seen.add(identity)
    baseline = next((t for t in sorted(done, key=lambda t: t.number) if _is_baseline(t)), None)
    picked = {_identity(t.params) for t in chosen}
    if baseline is not None and _identity(baseline.params) not in picked:
        chosen.append(baseline)
    base_identity = None if baseline is None else _identity(baseline.params)
    return tuple(
        Chosen(
            ConfirmConfig(t.number, float(t.value or 0.0), _identity(t.params) == base_identity),
            dict(t.params),
        )
        for t in chosen
    )


def confirm_seeds(train_seed: int, seeds: int) -> tuple[int, ...]:
    """``seeds`` fresh seeds after the study's own."""
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: expected at least 1")
    return tuple(range(train_seed + 1, train_seed + 1 + seeds))


def run_specs(chosen: Sequence[Chosen], seeds: Sequence[int], epochs: int) -> tuple[RunSpec, ...]:
    """Every run: each configuration with each seed, best configuration first."""
    return tuple(
        RunSpec(c.params, seed, epochs, point=f"trial {c.config.trial}, seed {seed}")
        for c in chosen
        for seed in seeds
    )


def _is_baseline(trial: FrozenTrial) -> bool:
    return bool(trial.user_attrs.get(records.BASELINE))


def _identity(params: Mapping[str, Any]) -> str:
    return repr(sorted(params.items()))
