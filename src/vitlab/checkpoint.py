"""Checkpoint files (``last.pt``, ``best.pt``): plain data written atomically, read safely.

A checkpoint is a pickle, and unpickling an arbitrary pickle runs arbitrary code, so a file
someone sends you must never be loaded with ``weights_only=False``. We save only plain
containers, tensors and numbers (:func:`save` checks), which ``torch.load(weights_only=True)``
reads back without executing anything; whatever else is in a file is refused.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from vitlab.errors import UserError

# The layout of the saved dict; a file of another version is refused, not half-read.
CHECKPOINT_VERSION = 1
_SCALARS = (str, int, float, bool, type(None))
_ABSENT = object()  # a key one configuration has and the other lacks


class CheckpointError(UserError):
    """A checkpoint file that cannot be resumed from; the message names it and says what to do."""


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """``TypeError`` naming the first value that ``weights_only`` loading would refuse."""
    if isinstance(value, (torch.Tensor, torch.Size, torch.dtype, *_SCALARS)):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_plain(key, where)
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
    else:
        raise TypeError(f"{where} is a {type(value).__name__}: save plain data only")


def save(state: Mapping[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new, never half."""
    check_plain(state)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per process: no shared temp
    torch.save(dict(state), tmp)
    tmp.replace(path)


def load(path: Path, keys: Collection[str]) -> dict[str, Any]:
    """The checkpoint in ``path``, which must hold ``keys``; CheckpointError (one line) if not."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    except pickle.UnpicklingError:
        # weights_only stops at the first global or call it does not allow: nothing ran.
        raise unusable(path, "not plain tensors and numbers, so it was not loaded") from None
    except Exception as e:  # noqa: BLE001 - EOFError, RuntimeError (zip), KeyError...: all damage
        raise unusable(path, f"damaged or not a checkpoint: {type(e).__name__}") from None
    if not isinstance(state, dict) or "version" not in state:
        raise unusable(path, "not a checkpoint of this program")
    if state["version"] != CHECKPOINT_VERSION:
        raise unusable(
            path,
            f"checkpoint format {state['version']!r}, this version reads {CHECKPOINT_VERSION}",
        )
    missing = [k for k in keys if k not in state]
    if missing:
        raise unusable(path, f"no {', '.join(missing)} in it")
    return state


def unusable(path: Path, problem: str) -> CheckpointError:
    """The one-line error for a checkpoint that cannot be resumed from."""
    return CheckpointError(f"{path}: cannot resume from it ({problem}); delete it to start over")


def config_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every key (dotted when nested) whose value differs."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes = []
        for key in [*old, *(k for k in new if k not in old)]:
            changes += config_changes(
                old.get(key, _ABSENT), new.get(key, _ABSENT), f"{prefix}{key}."
            )
        return changes
    if old == new:
        return []
    return [f"{prefix.rstrip('.')}: {_show(old)} -> {_show(new)}"]


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, default=str)
