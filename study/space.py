"""YAML search spaces: each parameter's distribution and role, the fixed settings, the model
presets, the augmentation ladder, the baseline recipe, and the pruner and sampler settings.

A parameter overrides the :class:`~vitlab.config.TrainConfig` field of the same name. Loading
checks the whole file (structure, names, ranges, models, and the TrainConfig of the baseline and
of every range end) so that a typo fails at once with ``<file>: <key path>: <problem>``; it does
not check that data files exist. A ``model`` value may name a preset of ``models``: it sets
``model`` and ``model_kwargs`` (the preset's kwargs over ``fixed.model_kwargs``). A
``pretrained`` value may name a set of ``pretrained_weights``: the file for the trial's model
preset (``none`` means random initialisation).
"""

from __future__ import annotations

import dataclasses
import math
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

from study import space_checks as checks
from study.sampling import TrialSeeded, build_sampler
from study.space_checks import SpaceError, fail
from vitlab.augment import DEFAULT_LADDER, validate_ladder
from vitlab.config import (
    ConfigError,
    DataConfig,
    TrainConfig,
    from_mapping,
    plain_data,
    resolve_pretrained,
)

__all__ = ["ParamSpec", "SearchSpace", "SpaceError", "list_spaces", "load_space"]

SPACES_DIR = Path("search_spaces")
DATA_PATH_KEYS = ("manifest", "train", "val", "test", "image_root")


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
        return self._build(params, data, str(self.source))

    def _build(self, params: Mapping[str, Any], data: DataConfig | None, where: str) -> TrainConfig:
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
        """The configured sampler, seeded per trial; default: seeded (0) multivariate TPE."""
        settings = dict(self.sampler or {})
        kind = settings.pop("type", "tpe")
        explicit = settings.pop("grid", None)
        grid = None
        if kind == "grid":
            grid = checks.grid_values(self.params, {"grid": explicit}, self.source)
        try:
            return build_sampler(kind, settings, grid)
        except ValueError as e:  # load checked the types; this is a value Optuna refuses
            raise fail(self.source, "sampler", str(e)) from None

    def make_pruner(self) -> optuna.pruners.BasePruner:
        """``study.pruning.build_pruner(pruner)``; no ``pruner`` key gives that module's default."""
        from study.pruning import build_pruner

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
                "baseline": self.baseline,
                "pruner": self.pruner,
                "sampler": self.sampler,
                "trials": self.trials,
                "timeout": self.timeout,
            }
        )


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space YAML file; any problem is a SpaceError naming file and key."""
    source = Path(path)
    raw = checks.read_yaml(source)
    checks.check_keys(raw, checks.TOP_KEYS, source, "")
    name = raw.get("name", source.stem)
    description = raw.get("description") or ""
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str) or (key == "name" and not value.strip()):
            raise fail(source, key, f"expected text, got {value!r}")
    data = None if raw.get("data") is None else _parse_data(raw["data"], source)
    fixed = checks.parse_fixed(raw.get("fixed"), source)
    models = checks.parse_models(raw.get("models"), source)
    if "model" in fixed:
        checks.check_model(fixed["model"], models, source, "fixed.model")
    try:
        ladder = validate_ladder(raw.get("aug_ladder", DEFAULT_LADDER))
    except ValueError as e:
        raise fail(source, "aug_ladder", str(e)) from None
    params = _parse_params(raw.get("params"), fixed, models, source)
    space = SearchSpace(
        name=name,
        description=description.strip(),
        source=source,
        data=data,
        fixed=fixed,
        models=models,
        aug_ladder=ladder,
        params=params,
        baseline=checks.parse_baseline(raw.get("baseline"), params, source),
        pruner=_optional_mapping(raw, "pruner", source),
        sampler=checks.parse_sampler(raw.get("sampler"), source),
        trials=_positive(raw, "trials", int, source),
        timeout=_positive(raw, "timeout", (int, float), source),
        pretrained_weights=checks.parse_weights(raw.get("pretrained_weights"), models, source),
    )
    _check_configs(space)
    return space


def list_spaces(folder: str | Path = SPACES_DIR) -> list[Path]:
    """The search-space files in ``folder`` (``*.yaml`` / ``*.yml``), sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _parse_params(
    raw: Any, fixed: Mapping[str, Any], models: Mapping[str, Any], source: Path
) -> tuple[ParamSpec, ...]:
    specs = checks.mapping(raw, source, "params")
    if not specs:
        raise fail(source, "params", "a search space needs at least one parameter")
    params = []
    for name, spec in specs.items():
        param = ParamSpec(**checks.parse_param(name, spec, source))
        if name in fixed:
            raise fail(source, f"params.{name}", "is also under 'fixed': keep one of the two")
        if name == "model":
            for i, choice in enumerate(param.choices or ()):
                checks.check_model(choice, models, source, f"params.model.choices[{i}]")
        params.append(param)
    return tuple(params)


def _check_configs(space: SearchSpace) -> None:
    """Build the baseline's TrainConfig, and one per range end / choice of every parameter."""
    space._build(space.baseline, DataConfig(), f"{space.source}: baseline")
    for p in space.params:
        for value in p.probe_values():
            space._build(
                {**space.baseline, p.name: value},
                DataConfig(),
                f"{space.source}: params.{p.name} = {value!r}",
            )
    by_name = {p.name: p for p in space.params}
    if "pretrained" in by_name and "model" in by_name:
        # Every model choice must have a file in every weights set a trial may pick.
        for weights in by_name["pretrained"].choices or ():
            for model in by_name["model"].choices or ():
                space._build(
                    {**space.baseline, "pretrained": weights, "model": model},
                    DataConfig(),
                    f"{space.source}: params.pretrained = {weights!r} with model {model!r}",
                )
    space.make_sampler()  # a grid needs grid values for every parameter
    space.make_pruner()


def _parse_data(raw: Any, source: Path) -> dict[str, Any]:
    """The checked ``data`` mapping, relative paths resolved against the file's folder (as in a
    ``study train`` config); whether the files exist is checked when the data is read."""
    data = checks.mapping(raw, source, "data")
    try:
        from_mapping(DataConfig, data, f"{source}: data")
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    for key in DATA_PATH_KEYS:
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(source.parent / data[key])
    return data


def _optional_mapping(raw: Mapping[str, Any], key: str, source: Path) -> dict[str, Any] | None:
    return None if raw.get(key) is None else checks.mapping(raw[key], source, key)


def _positive(raw: Mapping[str, Any], key: str, kind: Any, source: Path) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or not 0 < value < math.inf:
        what = "an integer" if kind is int else "a number"
        raise fail(source, key, f"expected {what} > 0 or null, got {value!r}")
    return value if kind is int else float(value)
