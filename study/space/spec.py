"""A loaded search space: each parameter's distribution and role, the fixed settings, the model
presets, the augmentation ladder, the baseline recipe, and the pruner and sampler settings.

A parameter overrides the :class:`~vitlab.config.TrainConfig` field of the same name (loading
and its checks are in :mod:`study.space.load`). A ``model`` value may name a preset of
``models``: it sets ``model`` and ``model_kwargs`` (the preset's kwargs over
``fixed.model_kwargs``). A ``pretrained`` value may name a set of ``pretrained_weights``: the
file for the trial's model preset (``none`` means random initialisation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from study import records
from study.space.checks import SpaceError
from study.space.samplers import TrialSeeded, build_sampler
from vitlab.config import (
    ConfigError,
    DataConfig,
    TrainConfig,
    from_mapping,
    plain_data,
    resolve_pretrained,
)

__all__ = ["ParamSpec", "SearchSpace", "SpaceError"]


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: its distribution and its role in the study."""

    name: str
    type: str  # float | int | categorical
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None
    role: str = "scientific"  # scientific | nuisance | fixed

    def suggest(self, trial: optuna.Trial) -> Any:
        """This parameter's value for ``trial``."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices or ()))
        if self.type == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution ``suggest`` samples from."""
        if self.type == "categorical":
            return CategoricalDistribution(list(self.choices or ()))
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), self.log, int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), self.log, self.step)

    def probe_values(self) -> tuple[Any, ...]:
        """Values checked at load time: the range ends, or every choice."""
        if self.type == "categorical":
            return tuple(self.choices or ())
        dist = self.distribution()
        return (dist.low, dist.high)  # type: ignore[attr-defined]  # high is on the step grid

    def as_dict(self) -> dict[str, Any]:
        """The YAML form (without the name)."""
        keys = ("choices",) if self.type == "categorical" else ("low", "high", "log", "step")
        out: dict[str, Any] = {"type": self.type}
        out.update({k: getattr(self, k) for k in keys if getattr(self, k) is not None})
        if "choices" in out:
            out["choices"] = list(out["choices"])
        out["role"] = self.role
        return out


@dataclass(frozen=True)
class SearchSpace:
    """A loaded, checked search-space file."""

    name: str
    description: str
    source: Path
    data: Mapping[str, Any] | None
    fixed: Mapping[str, Any]
    models: Mapping[str, Mapping[str, Any]]
    aug_ladder: tuple[Mapping[str, float], ...]
    params: tuple[ParamSpec, ...]
    baseline: Mapping[str, Any]
    pruner: Mapping[str, Any] | None = None
    sampler: Mapping[str, Any] | None = None
    trials: int | None = None  # the runner's default number of trials
    timeout: float | None = None  # the runner's default time budget, in seconds
    # name -> model preset -> weights file (``python -m study pretrain`` makes the demo's)
    pretrained_weights: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    # How the report reads the study: {"bucket_edges": [...]} (checks.parse_report)
    report: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Named points (``ablate --to NAME``): name -> a value for every parameter
    points: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Every parameter's value for ``trial``, in file order."""
        return {p.name: p.suggest(trial) for p in self.params}

    def data_config(self) -> DataConfig | None:
        """The ``data`` section as a DataConfig; None if absent (the runner picks the demo data)."""
        return None if self.data is None else from_mapping(DataConfig, self.data, str(self.source))

    def train_config(
        self, params: Mapping[str, Any], data: DataConfig | None = None
    ) -> TrainConfig:
        """``fixed`` + ``aug_ladder`` + ``params`` (presets expanded); SpaceError names the file.

        ``data`` defaults to :meth:`data_config`, else an empty DataConfig (the runner fills it).
        """
        return self.build(params, data, str(self.source))

    def build(self, params: Mapping[str, Any], data: DataConfig | None, where: str) -> TrainConfig:
        """As :meth:`train_config`, with ``where`` leading any error (a key path of the file)."""
        values: dict[str, Any] = {**self.fixed, **params}
        preset = (
            self.models.get(values.get("model")) if isinstance(values.get("model"), str) else None
        )
        weights = values.get("pretrained")
        if weights == "none":
            values["pretrained"] = None
        elif isinstance(weights, str) and weights in self.pretrained_weights:
            files = self.pretrained_weights[weights]
            if values.get("model") not in files:
                raise SpaceError(
                    f"{where}: pretrained_weights.{weights} has no file for model "
                    f"{values.get('model')!r} (it has: {', '.join(files)})"
                )
            values["pretrained"] = files[values["model"]]
        elif isinstance(weights, str):  # a weights file resolves against this file, like a set's
            values["pretrained"] = resolve_pretrained(weights, self.source.parent)
        if preset is not None:
            values["model"] = preset["name"]
            values["model_kwargs"] = {**self.fixed.get("model_kwargs", {}), **preset["kwargs"]}
        values["aug_ladder"] = list(self.aug_ladder)
        try:
            config = from_mapping(TrainConfig, values, where)
            return replace(config, data=data or self.data_config() or DataConfig())
        except ConfigError as e:
            raise SpaceError(str(e)) from None

    def make_sampler(self) -> TrialSeeded:
        """The configured sampler (:func:`~study.space.samplers.build_sampler`), seeded per
        trial; default: seeded (0) multivariate TPE."""
        return build_sampler(self.sampler, self.params, self.source)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        """The configured pruner (:func:`~study.pruners.registry.build_pruner`), or its default."""
        from study.pruners.registry import build_pruner

        try:
            return build_pruner(None if self.pruner is None else dict(self.pruner))
        except ValueError as e:  # its messages start with the key path ("pruner.type: ...")
            raise SpaceError(f"{self.source}: {e}") from None

    def weights_files(self) -> list[Path]:
        """Every local weights file a trial of this space may load."""
        used = {self.baseline.get("pretrained"), self.fixed.get("pretrained")}
        for p in self.params:
            if p.name == "pretrained":
                used.update(p.choices or ())
        return sorted(
            {
                Path(f)
                for name in used
                if name in self.pretrained_weights
                for f in self.pretrained_weights[name].values()
            }
        )

    def roles(self) -> dict[str, str]:
        """Parameter name -> scientific | nuisance | fixed."""
        return {p.name: p.role for p in self.params}

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-able data (for a study's user attributes); the YAML keys plus ``source``."""
        return plain_data(
            {
                "name": self.name,
                "description": self.description,
                "source": str(self.source),
                "data": self.data,
                "fixed": self.fixed,
                "models": self.models,
                "pretrained_weights": self.pretrained_weights,
                "aug_ladder": self.aug_ladder,
                "params": {p.name: p.as_dict() for p in self.params},
                records.SPACE_BASELINE: self.baseline,
                "pruner": self.pruner,
                "sampler": self.sampler,
                "trials": self.trials,
                "timeout": self.timeout,
                "report": self.report,
                "points": self.points,
            }
        )
