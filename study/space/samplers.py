"""Samplers from a registry (like pruners), each drawing a trial from (seed, trial number).

:data:`SAMPLERS` is the one table of ``sampler.type`` -> Optuna class, accepted keys and their
types, and the defaults chosen here; the load-time check (:func:`parse_sampler`) and the builder
(:func:`build_sampler`) both read it, and a grid's values are built in :func:`grid_values` only.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import (
    BaseSampler,
    GPSampler,
    GridSampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from study.space.checks import check_keys, fail, hint, mapping, value_problem

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "SamplerType",
    "TrialSeeded",
    "build_sampler",
    "grid_values",
    "parse_sampler",
    "random_states",
]


@dataclass(frozen=True)
class SamplerType:
    """One ``sampler.type``: its Optuna class, the keys it accepts (besides ``type``) with their
    types, and our defaults where they differ from Optuna's."""

    cls: Callable[..., BaseSampler]
    keys: Mapping[str, type | tuple[type, ...]]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    takes_grid: bool = False  # built on the grid of the space's parameters (grid_values)
    experimental: bool = False  # Optuna warns on construction: silenced

    def __post_init__(self) -> None:
        unknown = set(self.defaults) - set(self.keys)
        if unknown:
            raise ValueError(f"defaults {sorted(unknown)} are not keys of {self.cls.__name__}")


DEFAULT_SAMPLER = "tpe"
DEFAULT_SEED = 0  # a space without sampler.seed still proposes the same study every time
SAMPLERS: Mapping[str, SamplerType] = {
    "tpe": SamplerType(
        TPESampler,
        {
            "seed": int,
            "multivariate": bool,
            "group": bool,
            "n_startup_trials": int,
            "n_ei_candidates": int,
            "constant_liar": bool,
        },
        defaults={"multivariate": True},  # the parameters of a recipe interact
    ),
    "random": SamplerType(RandomSampler, {"seed": int}),
    "grid": SamplerType(GridSampler, {"seed": int, "grid": Mapping}, takes_grid=True),
    "gp": SamplerType(
        GPSampler, {"seed": int, "n_startup_trials": int, "deterministic_objective": bool}
    ),
    "qmc": SamplerType(
        QMCSampler, {"seed": int, "qmc_type": str, "scramble": bool}, experimental=True
    ),
}


def parse_sampler(raw: Any, source: Path) -> dict[str, Any] | None:
    """The checked ``sampler`` mapping (known type, its keys, their types), or None if absent."""
    if raw is None:
        return None
    settings = mapping(raw, source, "sampler")
    kind = settings.get("type", DEFAULT_SAMPLER)
    if kind not in SAMPLERS:
        known = f"{hint(kind, SAMPLERS)} (known: {', '.join(SAMPLERS)})"
        raise fail(source, "sampler.type", f"unknown sampler {kind!r}{known}")
    allowed = SAMPLERS[kind].keys
    check_keys(settings, ("type", *allowed), source, "sampler")
    for key, value in settings.items():
        expected = allowed.get(key, str)
        bad_bool = isinstance(value, bool) and expected is int
        if value is not None and (bad_bool or not isinstance(value, expected)):
            name = getattr(expected, "__name__", str(expected))
            raise fail(source, f"sampler.{key}", f"expected {name}, got {value!r}")
    return settings


def grid_values(params: Sequence[Any], explicit: Any, source: Path) -> dict[str, list[Any]]:
    """GridSampler's search space: ``sampler.grid`` lists, else choices or stepped ranges."""
    explicit = mapping(explicit, source, "sampler.grid")
    names = [p.name for p in params]
    check_keys(explicit, names, source, "sampler.grid")
    grid: dict[str, list[Any]] = {}
    for p in params:
        where = f"sampler.grid.{p.name}"
        if p.name in explicit:
            values = explicit[p.name]
            if not isinstance(values, list) or not values:
                raise fail(source, where, f"needs a non-empty list, got {values!r}")
            for v in values:
                if (problem := value_problem(p, float(v) if p.type == "float" else v)) is not None:
                    raise fail(source, where, problem)
            grid[p.name] = list(values)
        elif p.type == "categorical":
            grid[p.name] = list(p.choices)
        elif p.step is not None:
            n = int(round((p.high - p.low) / p.step + 1e-9))
            grid[p.name] = [round(p.low + i * p.step, 12) for i in range(n + 1)]
            if p.type == "int":
                grid[p.name] = [int(v) for v in grid[p.name]]
        else:
            problem = f"a grid needs choices, a step, or values under sampler.grid.{p.name}"
            raise fail(
                source, f"params.{p.name}", f"continuous, and the sampler is grid: {problem}"
            )
    return grid


def build_sampler(
    settings: Mapping[str, Any] | None, params: Sequence[Any], source: Path
) -> TrialSeeded:
    """The sampler of a space's ``sampler`` section (checked by :func:`parse_sampler`), seeded
    per trial; None gives seeded (0) multivariate TPE. A value Optuna refuses is a SpaceError."""
    settings = parse_sampler(settings, source) or {}  # a SearchSpace made in code is checked too
    kind = settings.pop("type", DEFAULT_SAMPLER)
    entry = SAMPLERS[kind]
    kwargs = {"seed": DEFAULT_SEED, **entry.defaults, **settings}
    if entry.takes_grid:
        kwargs["search_space"] = grid_values(params, kwargs.pop("grid", None), source)
    try:
        with warnings.catch_warnings():
            if entry.experimental:
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            base = entry.cls(**kwargs)
        return TrialSeeded(base, kwargs["seed"])
    except ValueError as e:  # load checked the types; this is a value Optuna refuses
        raise fail(source, "sampler", str(e)) from None


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
