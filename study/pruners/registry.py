"""Pruners built from a search space's ``pruner:`` mapping, by type name.

Every pruner built here is a :class:`~study.pruners.decision.Decider`: it records its decision
when it prunes. Optuna's own pruners are wrapped in an :class:`OptunaRule` of their type name,
which keeps the settings they were built with for the decision's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.pruners import (
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    ThresholdPruner,
)

from study.pruners.anyof import AnyOfPruner
from study.pruners.decision import Decider
from study.pruners.floor import FloorPruner
from study.pruners.optuna_rules import OptunaRule
from study.pruners.overfitting import OverfittingPruner

DEFAULT_PRUNER_SETTINGS: Mapping[str, Any] = {
    "type": "overfitting",
    "warmup_epochs": 2,
    "patience": 3,
    "min_delta": 0.0,
    "gap_threshold": 0.3,
    "wrapped": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2},
}

# type -> (class, accepted keys, required keys). Values go to the constructors unchanged, so
# Optuna checks its own ranges.
_STEPS = ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")
_TYPES: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "overfitting": (
        OverfittingPruner,
        ("warmup_epochs", "patience", "min_delta", "gap_threshold", "wrapped", "curves_key"),
        (),
    ),
    "median": (MedianPruner, _STEPS, ()),
    "percentile": (PercentilePruner, ("percentile", *_STEPS), ("percentile",)),
    "hyperband": (
        HyperbandPruner,
        ("min_resource", "max_resource", "reduction_factor", "bootstrap_count"),
        (),
    ),
    "patient": (PatientPruner, ("patience", "min_delta", "wrapped"), ("patience",)),
    "threshold": (ThresholdPruner, ("lower", "upper", "n_warmup_steps", "interval_steps"), ()),
    "floor": (FloorPruner, ("baseline_fraction", "chance_multiple", "n_warmup_steps"), ()),
    "any": (AnyOfPruner, ("pruners",), ("pruners",)),
    "nop": (NopPruner, (), ()),
}
_ALIASES = {"none": "nop"}


def build_pruner(settings: Mapping[str, Any] | None) -> Decider:
    """The pruner a search-space YAML ``pruner:`` mapping describes; None gives the default."""
    return _build(DEFAULT_PRUNER_SETTINGS if settings is None else settings, "pruner")


def _build(settings: Any, where: str) -> Decider:
    names = ", ".join(sorted([*_TYPES, *_ALIASES]))
    if not isinstance(settings, Mapping):
        raise ValueError(f"{where}: expected a mapping with a 'type' ({names}), got {settings!r}")
    kwargs = dict(settings)
    if "type" not in kwargs:
        raise ValueError(f"{where}: missing 'type' (one of {names})")
    kind = kwargs.pop("type")
    kind = _ALIASES.get(str(kind).lower(), str(kind).lower())
    if kind not in _TYPES:
        raise ValueError(f"{where}.type: unknown pruner type {settings['type']!r} (valid: {names})")
    cls, keys, required = _TYPES[kind]
    for key in kwargs:
        if key not in keys:
            valid = ", ".join(sorted(keys)) or "none"
            raise ValueError(f"{where}: unknown key {key!r} for type {kind!r} (valid: {valid})")
    for key in required:
        if key not in kwargs:
            raise ValueError(f"{where}: type {kind!r} needs {key!r}")
    if kind == "any":
        members = kwargs["pruners"]
        if not isinstance(members, list) or not members:
            got = f"got {members!r}"
            raise ValueError(f"{where}.pruners: expected a non-empty list of pruners, {got}")
        kwargs["pruners"] = [_build(m, f"{where}.pruners[{i}]") for i, m in enumerate(members)]
    if "wrapped" in keys:
        inner = kwargs.pop("wrapped", None)
        inner = None if inner is None else _build(inner, f"{where}.wrapped")
        kwargs["wrapped" if kind == "overfitting" else "wrapped_pruner"] = inner
    try:
        return cls(**kwargs) if issubclass(cls, Decider) else OptunaRule.build(kind, cls, kwargs)
    except (TypeError, ValueError) as e:  # a TypeError here is a bad value from YAML, too
        raise ValueError(f"{where} ({kind}): {e}") from e
