"""Parsing and validation helpers for :mod:`study.space`: every problem is a :class:`SpaceError`
naming the file, the key path and the problem."""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from study import records
from vitlab import yamlfile
from vitlab.config import TrainConfig
from vitlab.errors import UserError

TOP_KEYS = (
    "name",
    "description",
    "data",
    "fixed",
    "models",
    "pretrained_weights",
    "aug_ladder",
    "params",
    records.SPACE_BASELINE,
    "pruner",
    "sampler",
    "trials",
    "timeout",
    "report",
    "points",
)
REPORT_KEYS = ("bucket_edges",)
DEFAULT_BUCKET_EDGES = records.DEFAULT_BUCKET_EDGES
PARAM_KEYS = ("type", "low", "high", "log", "step", "choices", "role")
TYPES = ("float", "int", "categorical")
ROLES = ("scientific", "nuisance", "fixed")
PRESET_KEYS = ("name", "kwargs")
# TrainConfig fields with a top-level key of their own (or no scalar value to search).
NOT_FIXED = {"data": "use the top-level 'data' key", "aug_ladder": "use the top-level 'aug_ladder'"}
NOT_SEARCHED = ("data", "aug_ladder", "model_kwargs")
FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
HINTS = typing.get_type_hints(TrainConfig)


class SpaceError(UserError):
    """A search-space file that cannot be used; the message is ``<file>: <key path>: <problem>``."""


def fail(source: Path | str, path: str, problem: str) -> SpaceError:
    return SpaceError(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")


def hint(key: object, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of ``path``; SpaceError if missing, malformed or not a mapping."""
    raw = yamlfile.read_yaml(path, SpaceError, "search-space file")
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    return dict(raw)


def check_keys(raw: Mapping, known: Sequence[str], source: Path, path: str) -> None:
    for key in raw:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise fail(source, where, f"unknown key{hint(key, known)} (known: {', '.join(known)})")


def mapping(value: Any, source: Path, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(source, path, f"expected a mapping, got {value!r}")
    return {str(k): v for k, v in value.items()}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_model(name: Any, presets: Mapping[str, Any], source: Path, path: str) -> None:
    """A preset name or a timm model name (ModelError's message lists close matches)."""
    if not isinstance(name, str):
        raise fail(source, path, f"a model must be a name, got {name!r}")
    if name in presets:
        return
    # timm loads when a space names a model, not when the command line reads the defaults.
    from vitlab.models import ModelError, check_model_name

    try:
        check_model_name(name)
    except ModelError as e:
        known = f" (presets: {', '.join(presets)})" if presets else ""
        raise fail(source, path, f"{e}{known}") from None


def parse_models(raw: Any, source: Path) -> dict[str, dict[str, Any]]:
    """``models: {preset: {name: timm_name, kwargs: {...}}}``."""
    presets: dict[str, dict[str, Any]] = {}
    for preset, spec in mapping(raw, source, "models").items():
        where = f"models.{preset}"
        spec = mapping(spec, source, where)
        check_keys(spec, PRESET_KEYS, source, where)
        if "name" not in spec:
            raise fail(source, where, "missing key 'name' (a timm model name)")
        check_model(spec["name"], {}, source, f"{where}.name")
        kwargs = mapping(spec.get("kwargs"), source, f"{where}.kwargs")
        presets[preset] = {"name": spec["name"], "kwargs": kwargs}
    return presets


def parse_weights(raw: Any, models: Mapping[str, Any], source: Path) -> dict[str, dict[str, str]]:
    """``pretrained_weights: {name: {model preset: weights file}}``, relative paths resolved
    against the file's folder; whether the files exist is checked before a study runs."""
    sets: dict[str, dict[str, str]] = {}
    for name, files in mapping(raw, source, "pretrained_weights").items():
        where = f"pretrained_weights.{name}"
        if name in ("none", "hub"):
            raise fail(source, where, f"{name!r} is reserved (pretrained: {name} means itself)")
        files = mapping(files, source, where)
        if not files:
            raise fail(source, where, "needs a weights file for at least one model preset")
        for preset, path in files.items():
            if preset not in models:
                known = ", ".join(models) or "none defined"
                raise fail(source, f"{where}.{preset}", f"not a model preset (presets: {known})")
            if not isinstance(path, str) or not path.strip():
                raise fail(source, f"{where}.{preset}", f"expected a file path, got {path!r}")
        sets[name] = {
            preset: path if Path(path).is_absolute() else str(source.parent / path)
            for preset, path in files.items()
        }
    return sets


def parse_fixed(raw: Any, source: Path) -> dict[str, Any]:
    fixed = mapping(raw, source, "fixed")
    for key in fixed:
        if key in NOT_FIXED:
            raise fail(source, f"fixed.{key}", NOT_FIXED[key])
        if key not in FIELDS:
            raise fail(source, f"fixed.{key}", f"not a TrainConfig field{hint(key, FIELDS)}")
    return fixed


def parse_param(name: str, raw: Any, source: Path) -> dict[str, Any]:
    """Checked keyword arguments for a ParamSpec."""
    where = f"params.{name}"
    if name in NOT_SEARCHED:
        raise fail(source, where, "cannot be searched (set it under 'fixed' or at the top level)")
    if name not in FIELDS:
        raise fail(source, where, f"not a TrainConfig field{hint(name, FIELDS)}")
    spec = mapping(raw, source, where)
    check_keys(spec, PARAM_KEYS, source, where)
    kind, role = spec.get("type"), spec.get("role", "scientific")
    if kind not in TYPES:
        raise fail(source, f"{where}.type", f"unknown type {kind!r}; use one of {', '.join(TYPES)}")
    if role not in ROLES:
        raise fail(source, f"{where}.role", f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    field_types = set(typing.get_args(HINTS[name]) or (HINTS[name],)) - {type(None)}
    if kind != "categorical" and field_types & {str, bool}:
        raise fail(source, f"{where}.type", f"{name} is not a number: use type categorical")
    if kind == "float" and field_types == {int}:
        raise fail(source, f"{where}.type", f"{name} is an integer: use type int")
    out: dict[str, Any] = dict(name=name, type=kind, role=role, low=None, high=None)
    out.update(log=False, step=None, choices=None)
    if kind == "categorical":
        extra = [k for k in ("low", "high", "log", "step") if k in spec]
        if extra:
            raise fail(source, f"{where}.{extra[0]}", "not used by a categorical parameter")
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail(source, f"{where}.choices", f"needs a non-empty list, got {choices!r}")
        for i, choice in enumerate(choices):
            if not (choice is None or isinstance(choice, (str, bool)) or is_number(choice)):
                raise fail(source, f"{where}.choices[{i}]", f"{choice!r} is not a plain value")
        if len(set(map(repr, choices))) != len(choices):
            raise fail(source, f"{where}.choices", f"repeated choices in {choices!r}")
        out["choices"] = tuple(choices)
        return out
    if "choices" in spec:
        raise fail(source, f"{where}.choices", f"not used by a {kind} parameter")
    num = int if kind == "int" else (int, float)
    for key in ("low", "high"):
        value = spec.get(key)
        if not isinstance(value, num) or isinstance(value, bool) or not is_number(value):
            raise fail(source, f"{where}.{key}", f"needs a {kind} number, got {value!r}")
        out[key] = value if kind == "int" else float(value)
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise fail(source, f"{where}.log", f"must be true or false, got {log!r}")
    if out["low"] > out["high"]:
        raise fail(source, f"{where}.low", f"low={out['low']} is above high={out['high']}")
    if log and out["low"] <= 0:
        raise fail(source, f"{where}.low", f"log scale needs low > 0, got {out['low']}")
    if step is not None:
        if not isinstance(step, num) or isinstance(step, bool) or not is_number(step) or step <= 0:
            raise fail(source, f"{where}.step", f"needs a {kind} number > 0, got {step!r}")
        if log and step != 1:
            raise fail(source, f"{where}.step", "cannot be combined with log: true")
        step = step if kind == "int" else float(step)
    elif kind == "int":
        step = 1
    out.update(log=log, step=step)
    return out


def value_problem(spec: Any, value: Any) -> str | None:
    """Why ``value`` is not a possible value of ParamSpec ``spec``, or None."""
    if spec.type == "categorical":
        same = (value == c and isinstance(value, bool) == isinstance(c, bool) for c in spec.choices)
        ok = any(same)
        return None if ok else f"{value!r} is not among the choices {list(spec.choices)}"
    if spec.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"{value!r} is not an integer"
    if not is_number(value):
        return f"{value!r} is not a number"
    if not spec.low <= value <= spec.high:
        return f"{value!r} is outside [{spec.low}, {spec.high}]"
    if spec.step is not None:
        steps = (value - spec.low) / spec.step
        if abs(steps - round(steps)) > 1e-8:
            return f"{value!r} is not low + k * step (low={spec.low}, step={spec.step})"
    return None


def parse_baseline(raw: Any, params: Sequence[Any], source: Path) -> dict[str, Any]:
    """A checked value for every parameter, in parameter order, floats as floats."""
    values = mapping(raw, source, records.SPACE_BASELINE)
    names = [p.name for p in params]
    for key in values:
        if key not in names:
            known = f"{hint(key, names)} (parameters: {', '.join(names)})"
            raise fail(source, f"baseline.{key}", f"not a parameter of this space{known}")
    baseline: dict[str, Any] = {}
    for p in params:
        if p.name not in values:
            raise fail(source, records.SPACE_BASELINE, f"missing a value for parameter {p.name!r}")
        value = values[p.name]
        if (problem := value_problem(p, value)) is not None:
            raise fail(source, f"baseline.{p.name}", problem)
        baseline[p.name] = float(value) if p.type == "float" else value
    return baseline


def parse_points(
    raw: Any, params: Sequence[Any], baseline: Mapping[str, Any], source: Path
) -> dict[str, dict[str, Any]]:
    """Named points of the space (``ablate --to NAME``): each the baseline with the values it
    lists, every value checked as the baseline's are."""
    points = mapping(raw, source, "points")
    by_name = {p.name: p for p in params}
    out: dict[str, dict[str, Any]] = {}
    for name, values in points.items():
        if not isinstance(name, str) or not name.strip() or name == "best":
            problem = "expected a name other than 'best' (ablate's default)"
            raise fail(source, f"points.{name}", problem)
        values = mapping(values, source, f"points.{name}")
        point = dict(baseline)
        for key, value in values.items():
            if key not in by_name:
                known = f"{hint(key, by_name)} (parameters: {', '.join(by_name)})"
                raise fail(source, f"points.{name}.{key}", f"not a parameter of this space{known}")
            if (problem := value_problem(by_name[key], value)) is not None:
                raise fail(source, f"points.{name}.{key}", problem)
            point[key] = float(value) if by_name[key].type == "float" else value
        out[name] = point
    return out


def parse_report(raw: Any, source: Path) -> dict[str, Any]:
    """The checked ``report`` mapping: ``bucket_edges``, increasing integers >= 1."""
    report = mapping(raw, source, "report")
    check_keys(report, REPORT_KEYS, source, "report")
    edges = report.get("bucket_edges", list(DEFAULT_BUCKET_EDGES))
    if (
        not isinstance(edges, list)
        or not edges
        or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in edges)
        or any(b <= a for a, b in itertools.pairwise(edges))
    ):
        raise fail(
            source,
            "report.bucket_edges",
            f"expected increasing integers >= 1 (train images per class), got {edges!r}",
        )
    return {"bucket_edges": edges}
