"""Samplers that draw each trial from (seed, trial number), whichever worker asks for it.

A seeded Optuna sampler starts from the same random state in every process: two workers (or a
worker restarted after a crash) then propose the same parameters, trial after trial. Optuna 5
offers only ``reseed_rng()``, which reseeds from the OS (no longer reproducible). So
:class:`TrialSeeded` wraps the sampler and, before each trial, reseeds every random state it
holds (its own and those of the samplers it falls back to) from (seed, trial number): one worker
still proposes the same study for a given seed, and trials numbered differently draw differently.
Trials with fixed parameters (the enqueued baseline, heartbeat retries) are not sampled at all.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TrialSeeded", "build_sampler", "random_states"]


def build_sampler(
    kind: str, settings: Mapping[str, Any], grid: Mapping[str, list[Any]] | None = None
) -> TrialSeeded:
    """The sampler of a space's ``sampler`` section (checked at load), seeded per trial.

    ``settings`` excludes ``type``; ``grid`` is the grid sampler's search space.
    """
    settings = dict(settings)
    seed = settings.setdefault("seed", 0)
    samplers = optuna.samplers
    base: BaseSampler
    if kind == "tpe":
        base = samplers.TPESampler(**{"multivariate": True, **settings})
    elif kind == "random":
        base = samplers.RandomSampler(**settings)
    elif kind == "grid":
        base = samplers.GridSampler(dict(grid or {}), seed=seed)
    elif kind == "gp":
        base = samplers.GPSampler(**settings)
    elif kind == "qmc":
        with warnings.catch_warnings():  # QMCSampler is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            base = samplers.QMCSampler(**settings)
    else:
        raise ValueError(f"unknown sampler type {kind!r}")
    return TrialSeeded(base, seed)


def random_states(sampler: BaseSampler) -> list[LazyRandomState]:
    """Every random state of ``sampler`` and of the samplers it holds (TPE's and GP's random
    sampler for their first trials, QMC's for parameters outside its sequence)."""
    found: list[LazyRandomState] = []
    for value in vars(sampler).values():
        if isinstance(value, LazyRandomState):
            found.append(value)
        elif isinstance(value, BaseSampler):
            found.extend(random_states(value))
    return found


class TrialSeeded(BaseSampler):
    """``base``, with its random states reseeded from (``seed``, trial number) before each trial.

    ``seed=None`` leaves ``base`` as it is (unseeded: every process draws its own).
    """

    def __init__(self, base: BaseSampler, seed: int | None) -> None:
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.base, self.seed = base, seed
        self._states = random_states(base)
        if seed is not None and not self._states:
            # A sampler whose randomness we cannot reach would silently replay across workers.
            raise ValueError(f"{type(base).__name__} holds no random state to seed per trial")

    def trial_seed(self, number: int) -> int:
        """The seed of trial ``number``: independent streams for neighbouring numbers."""
        assert self.seed is not None
        return int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self.seed is not None:
            seed = self.trial_seed(trial.number)
            for state in self._states:
                state.rng.seed(seed)
        self.base.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        # Optuna calls this for n_jobs > 1; each trial is reseeded in before_trial anyway.
        self.base.reseed_rng()
