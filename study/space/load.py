"""Reading a search-space YAML file into a checked :class:`~study.space.spec.SearchSpace`.

Loading checks the whole file (structure, names, ranges, models, and the TrainConfig of the
baseline and of every range end) so that a typo fails at once with ``<file>: <key path>:
<problem>``; it does not check that data files exist.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from study import records
from study.space import checks
from study.space.checks import SpaceError, fail
from study.space.samplers import parse_sampler
from study.space.spec import ParamSpec, SearchSpace
from vitlab.config import ConfigError, DataConfig, from_mapping
from vitlab.ladder import DEFAULT_LADDER, validate_ladder

DEFAULT_SPACE = Path("search_spaces/demo.yaml")  # the demo: `run` and `pretrain` with no --space
DATA_PATH_KEYS = ("manifest", "train", "val", "test", "image_root")


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
    baseline = checks.parse_baseline(raw.get(records.SPACE_BASELINE), params, source)
    space = SearchSpace(
        name=name,
        description=description.strip(),
        source=source,
        data=data,
        fixed=fixed,
        models=models,
        aug_ladder=ladder,
        params=params,
        baseline=baseline,
        pruner=_optional_mapping(raw, "pruner", source),
        sampler=parse_sampler(raw.get("sampler"), source),
        trials=_positive(raw, "trials", int, source),
        timeout=_positive(raw, "timeout", (int, float), source),
        pretrained_weights=checks.parse_weights(raw.get("pretrained_weights"), models, source),
        report=checks.parse_report(raw.get("report"), source),
        points=checks.parse_points(raw.get("points"), params, baseline, source),
    )
    _check_configs(space)
    return space


def space_from_dict(d: Mapping[str, Any]) -> SearchSpace:
    """The space :meth:`SearchSpace.as_dict` wrote (a study's ``space`` attr), as it was loaded.

    Not checked again (it was when loaded); a key an older study lacks takes its default.
    """
    names = {f.name for f in dataclasses.fields(SearchSpace)}
    values = {k: v for k, v in d.items() if k in names}
    params = tuple(
        ParamSpec(
            name=name,
            **{k: tuple(v) if k == "choices" else v for k, v in spec.items()},
        )
        for name, spec in (d.get("params") or {}).items()
    )
    values.update(
        source=Path(d.get("source") or ""),
        description=d.get("description") or "",
        data=d.get("data"),
        fixed=dict(d.get("fixed") or {}),
        models=dict(d.get("models") or {}),
        aug_ladder=tuple(d.get("aug_ladder") or DEFAULT_LADDER),
        params=params,
        baseline=dict(d.get(records.SPACE_BASELINE) or {}),
    )
    for key in ("pretrained_weights", "report"):
        values[key] = dict(d.get(key) or {})
    return SearchSpace(**values)


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
    space.build(space.baseline, DataConfig(), f"{space.source}: baseline")
    for p in space.params:
        for value in p.probe_values():
            space.build(
                {**space.baseline, p.name: value},
                DataConfig(),
                f"{space.source}: params.{p.name} = {value!r}",
            )
    by_name = {p.name: p for p in space.params}
    if "pretrained" in by_name and "model" in by_name:
        # Every model choice must have a file in every weights set a trial may pick.
        for weights in by_name["pretrained"].choices or ():
            for model in by_name["model"].choices or ():
                space.build(
                    {**space.baseline, "pretrained": weights, "model": model},
                    DataConfig(),
                    f"{space.source}: params.pretrained = {weights!r} with model {model!r}",
                )
    for name, point in space.points.items():
        space.build(point, DataConfig(), f"{space.source}: points.{name}")
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
