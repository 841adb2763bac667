"""Frozen configuration for one training run: YAML in, resolved YAML saved beside the results.

``TrainConfig`` is flat on purpose: a study's parameters (``weight_decay``, ``aug_strength``...)
override its fields by name with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vitlab.errors import UserError
from vitlab.ladder import DEFAULT_LADDER, validate_ladder
from vitlab.split import check_fracs
from vitlab.yamlfile import read_yaml

DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(UserError):
    """A configuration value that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from: a manifest (split here, deterministically) or split files."""

    manifest: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    image_root: str | None = None
    image_field: str | None = None
    label_field: str | None = None
    split_seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.1
    cache_root: str = "results/cache"

    def __post_init__(self) -> None:
        check_fracs(self.val_frac, self.test_frac)
        split_files = (self.train, self.val, self.test) != (None, None, None)
        if split_files and (self.manifest is not None or self.train is None or self.val is None):
            raise ValueError(
                "give either manifest, or train and val split files (and optionally test); "
                f"got manifest={self.manifest}, train={self.train}, val={self.val}, "
                f"test={self.test}"
            )

    @property
    def names_source(self) -> bool:
        """Whether a manifest or split files are named (if not, the CLI uses the demo data)."""
        return self.manifest is not None or self.train is not None


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    # Model: any timm name; model_kwargs shrink it (img_size, patch_size, depth, embed_dim...).
    model: str = "vit_tiny_patch16_224"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    pretrained: str | None = None  # None, a local weights file, "hub" or a timm tag
    image_size: int = 224
    # Optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    layer_decay: float | None = None  # layer-wise lr decay, for fine-tuning pretrained weights
    label_smoothing: float = 0.1
    grad_clip: float | None = None
    # Regularisation
    drop_rate: float = 0.0  # dropout before the classifier head
    drop_path_rate: float = 0.0  # stochastic depth
    aug_strength: float = 0.0
    aug_ladder: tuple[Mapping[str, float], ...] = DEFAULT_LADDER
    min_images: int = 1
    # Measurement and machinery
    train_eval_images: int = 1024  # fixed subset for the un-augmented train top-1
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    threads: int | None = None  # CPU threads; None lets torch decide

    def __post_init__(self) -> None:
        check_train_config(self)


def check_device(device: str) -> str:
    """``device`` if a config accepts it (one of ``DEVICES``, or ``cuda:N``); else ValueError."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {device!r}")
    return device


def check_train_config(c: TrainConfig) -> None:
    """Range checks; ``ValueError`` naming the key and the value."""
    positive = {
        "image_size": c.image_size,
        "epochs": c.epochs,
        "batch_size": c.batch_size,
        "lr": c.lr,
        "min_images": c.min_images,
        "train_eval_images": c.train_eval_images,
    }
    unit = {
        "label_smoothing": c.label_smoothing,
        "drop_rate": c.drop_rate,
        "drop_path_rate": c.drop_path_rate,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"{key} must be > 0, got {value!r}")
    for key, value in unit.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{key} must be in [0, 1), got {value!r}")
    for key, value in (
        ("weight_decay", c.weight_decay),
        ("warmup_epochs", c.warmup_epochs),
        ("min_lr", c.min_lr),
    ):
        if not value >= 0 or math.isinf(value):
            raise ValueError(f"{key} must be >= 0 and finite, got {value!r}")
    if not 0.0 <= c.aug_strength <= 1.0:
        raise ValueError(f"aug_strength must be in [0, 1], got {c.aug_strength!r}")
    if c.grad_clip is not None and not c.grad_clip > 0:
        raise ValueError(f"grad_clip must be > 0 or null, got {c.grad_clip!r}")
    if c.layer_decay is not None and not 0.0 < c.layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1] or null, got {c.layer_decay!r}")
    check_device(c.device)
    validate_ladder(c.aug_ladder)
    # timm loads here, when a config is checked, not when this module is imported: the command
    # line imports the config's defaults, and `--help` must not wait for torch.
    from vitlab.models import check_model_name

    check_model_name(c.model)  # before any data is read: a typo fails in a second


def from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and its type.

    ``where`` prefixes error messages (for example ``"train.yaml: data"``).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_mapping(hint, value or {}, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(value, hint, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except (ValueError, UserError) as e:
        raise ConfigError(f"{where}: {e}") from None


def load_train_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read a training YAML file (unknown keys and bad values name the file and the key)."""
    path = Path(path)
    raw = read_yaml(path, ConfigError) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    if overrides:
        raw = {**raw, **overrides}
    config = from_mapping(TrainConfig, raw, str(path))
    # Relative data and weights paths are relative to the YAML file, like manifest image paths
    # and a search space's weights files.
    return dataclasses.replace(
        config,
        data=_resolve_paths(config.data, path.parent),
        pretrained=resolve_pretrained(config.pretrained, path.parent),
    )


def to_dict(config: Any) -> dict[str, Any]:
    """Plain data (for YAML/JSON): tuples become lists, mappings become dicts."""
    return plain_data(dataclasses.asdict(config))


def dump_yaml(config: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def plain_data(value: Any) -> Any:
    """Plain YAML/JSON data: mappings become dicts, tuples become lists, recursively."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


def resolve_pretrained(value: str | None, base: Path) -> str | None:
    """``pretrained`` with a relative weights file made relative to ``base`` (the YAML's folder).

    ``none`` becomes None; ``hub`` and timm tags are not paths and stay as they are.
    """
    from vitlab.models import is_weights_path  # timm loads only when a path is resolved

    if value is None or value.strip().lower() in ("", "none"):
        return None
    return _resolve_path(value, base) if is_weights_path(value) else value


def _resolve_path(p: str, base: Path) -> str:
    path = Path(p).expanduser()
    return str(path if path.is_absolute() else base / path)


def _resolve_paths(data: DataConfig, base: Path) -> DataConfig:
    keys = ("manifest", "train", "val", "test", "image_root")
    resolved = {k: _resolve_path(getattr(data, k), base) for k in keys if getattr(data, k)}
    return dataclasses.replace(data, **resolved)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Accept ``value`` for a field annotated ``hint``, or raise ConfigError naming ``where``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: must not be null")
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, (str, Path)):
            return str(value)
    elif origin in (Mapping, dict) or hint in (Mapping, dict):
        if isinstance(value, Mapping):
            return dict(value)
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(dict(v) if isinstance(v, Mapping) else v for v in value)
    else:  # pragma: no cover - a field type this loader does not know
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {value!r}")
