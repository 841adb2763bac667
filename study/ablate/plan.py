"""What an ablation measures, resolved once: the baseline, the target, the factors between them,
the design, the seeds and the epochs; and, from the runs done so far, the runs still needed.

The baseline is the study's (the seed's recipe). The target is the study's best trial or a point
the space declares (``points:``). The factors are the scientific parameters whose values differ;
nuisance parameters are held at the target's values, fixed settings are the study's.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from study.ablate.design import Design, Factor, factorial_design
from study.ablate.fit import Observation
from study.ablate.path import path_next
from study.ablate.runs import RunSpec, run_key

__all__ = ["DESIGNS", "DEFAULT_SEEDS", "AblationPlan", "observations", "path_runs"]

DESIGNS = ("factorial", "path")
# Two seeds per design point: the replicates the t-intervals come from. On the demo's 16-point
# fix-list design that is 32 runs, about 30 minutes on 2 cores (README, "Measured effects").
DEFAULT_SEEDS = 2
LOW, HIGH = "baseline", "target"  # a factor's two levels, as the runs record them


@dataclass(frozen=True)
class AblationPlan:
    """An ablation of ``study`` from its baseline to ``target_name``, fully resolved."""

    study: str
    target_name: str  # "best" or a point's name
    target_label: str  # how the page names it: "the best trial (7)", "point fix_list"
    baseline: Mapping[str, Any]  # every parameter
    target: Mapping[str, Any]  # every parameter
    factors: tuple[Factor, ...]
    design: str  # factorial | path
    seeds: tuple[int, ...]
    epochs: int

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"design must be one of {DESIGNS}, got {self.design!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs!r}")

    @property
    def name(self) -> str:
        """This ablation's identity among the linked study's designs."""
        return f"{self.design} to {self.target_name}, {len(self.seeds)} seeds, {self.epochs} epochs"

    @functools.cached_property
    def factorial(self) -> Design:
        """The factorial over the plan's factors (made once: every run's key asks for it)."""
        return factorial_design(self.factors)

    def spec(self, levels: Sequence[int], seed: int) -> RunSpec:
        """The run of the configuration ``levels`` (-1: baseline's value, +1: target's)."""
        params = dict(self.target)
        for factor, level in zip(self.factors, levels, strict=True):
            params[factor.name] = factor.low if level < 0 else factor.high
        pairs = zip(self.factors, levels, strict=True)
        named = {f.name: (LOW if x < 0 else HIGH) for f, x in pairs}
        return RunSpec(params, seed, self.epochs, named, self._point(tuple(levels)))

    def _point(self, levels: tuple[int, ...]) -> str:
        rows = self.factorial.rows if self.design == "factorial" else ()
        if levels in rows:
            return f"{self.name}: point {rows.index(levels) + 1} of {len(rows)}"
        changed = sum(x > 0 for x in levels)
        return f"{self.name}: {changed} of {len(levels)} factors at the target's value"

    def configurations(self, values: Mapping[str, float]) -> tuple[tuple[int, ...], ...]:
        """The configurations the design needs now (given the runs done): all of a factorial's
        rows; the current stage of a path. () when the design is complete."""
        if self.design == "factorial":
            return tuple(row for row in self.factorial.rows if not self._done(row, values))
        return path_next(len(self.factors), observations(self, values), self.seeds)

    def needed(self, values: Mapping[str, float]) -> list[RunSpec]:
        """The runs still to do now, given each finished run's value by key."""
        return [
            spec
            for levels in self.configurations(values)
            for seed in self.seeds
            if (spec := self.spec(levels, seed)).key not in values
        ]

    def done(self, values: Mapping[str, float]) -> int:
        """The design's runs finished so far."""
        return len(observations(self, values))

    def _done(self, levels: Sequence[int], values: Mapping[str, float]) -> bool:
        return all(self.spec(levels, seed).key in values for seed in self.seeds)

    def total_runs(self) -> int:
        """The runs the whole design takes: a factorial's rows, or a path's stages, times seeds."""
        if self.design == "factorial":
            return len(self.factorial.rows) * len(self.seeds)
        return path_runs(len(self.factors)) * len(self.seeds)

    def record(self) -> dict[str, Any]:
        """This plan as the linked study's ``ablate_designs`` attr keeps it (JSON)."""
        return {
            "name": self.name,
            "target_name": self.target_name,
            "target_label": self.target_label,
            "baseline": dict(self.baseline),
            "target": dict(self.target),
            "factors": [{"name": f.name, "low": f.low, "high": f.high} for f in self.factors],
            "design": self.design,
            "seeds": list(self.seeds),
            "epochs": self.epochs,
        }

    @classmethod
    def from_record(cls, study: str, record: Mapping[str, Any]) -> AblationPlan:
        factors = tuple(Factor(f["name"], f["low"], f["high"]) for f in record["factors"])
        return cls(
            study=study,
            target_name=record["target_name"],
            target_label=record["target_label"],
            baseline=dict(record["baseline"]),
            target=dict(record["target"]),
            factors=factors,
            design=record["design"],
            seeds=tuple(record["seeds"]),
            epochs=int(record["epochs"]),
        )


def path_runs(k: int) -> int:
    """Configurations a full path measures: the baseline, k + (k-1) + ... + 1 single changes,
    and the leave-one-out's k configurations less the two the step before the last measured
    (its candidates have one factor left at the baseline's value)."""
    return 1 + k * (k + 1) // 2 + max(k - 2, 0)


def observations(plan: AblationPlan, values: Mapping[str, float]) -> list[Observation]:
    """Every finished run of the plan's 2^k configurations (any design's run counts)."""
    found = []
    for levels in itertools.product((-1, 1), repeat=len(plan.factors)):
        for seed in plan.seeds:
            key = run_key(plan.spec(levels, seed).params, seed, plan.epochs)
            if key in values:
                found.append(Observation(tuple(levels), seed, values[key]))
    return found
