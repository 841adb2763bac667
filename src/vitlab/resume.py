"""A training run's checkpoints: ``last.pt`` after every epoch, ``best.pt`` at the best one.

``last.pt`` holds everything a run needs to go on where it stopped (:data:`RESUME_KEYS`);
``best.pt`` holds the weights, the configuration, the classes and that epoch's metrics, which
:func:`vitlab.models.create_model` loads as pretrained weights. Both are plain data written
and read by :mod:`vitlab.checkpoint`, which refuses anything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from timm.scheduler.scheduler import Scheduler

from vitlab import checkpoint
from vitlab.errors import TrainingError
from vitlab.metrics import EpochMetrics

LAST, BEST = "last.pt", "best.pt"
# What a last.pt must hold to resume from.
RESUME_KEYS = ("config", "epochs_done", "model", "optimizer", "scheduler", "history")
_BEST_KEYS = ("version", "config", "model", "classes")  # plus the epoch's "metrics"


def run_state(
    *,
    config: Mapping[str, Any],
    epochs_done: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Scheduler,
    history: Sequence[EpochMetrics],
    classes: Sequence[str],
) -> dict[str, Any]:
    """The contents of ``last.pt`` after ``epochs_done`` epochs (``model`` unwrapped)."""
    return {
        "version": checkpoint.CHECKPOINT_VERSION,
        "config": dict(config),
        "epochs_done": epochs_done,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": [m.as_dict() for m in history],
        "classes": list(classes),
    }


def save_epoch(directory: Path, state: Mapping[str, Any], best: EpochMetrics | None) -> None:
    """Write ``last.pt``, and ``best.pt`` too when ``best`` (this epoch's metrics) is given."""
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint.save(state, directory / LAST)
    if best is not None:
        checkpoint.save(
            {k: state[k] for k in _BEST_KEYS} | {"metrics": best.as_dict()}, directory / BEST
        )


def restore(
    path: Path,
    *,
    config: Mapping[str, Any],
    classes: Sequence[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Scheduler,
) -> tuple[int, list[EpochMetrics]]:
    """Load ``last.pt`` at ``path`` into ``model`` (unwrapped), ``optimizer`` and ``scheduler``.

    Returns (epochs done, history). TrainingError if another configuration wrote it;
    CheckpointError (one line, "delete it") if it is damaged, foreign or for other classes.
    """
    state = checkpoint.load(path, RESUME_KEYS)
    changes = checkpoint.config_changes(state["config"], config)
    if changes:
        raise TrainingError(
            f"{path} was written by another configuration ({', '.join(changes)}); use "
            "another --checkpoint-dir or delete it to start over"
        )
    _check_classes(path, state.get("classes"), classes)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = [EpochMetrics(**m) for m in state["history"]]
        epochs_done = int(state["epochs_done"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        # Same configuration, other contents: the dataset's classes changed, or a foreign file.
        problem = " ".join(str(e).split())[:200]
        raise checkpoint.unusable(path, f"{type(e).__name__}: {problem}") from None
    return epochs_done, history


def _check_classes(path: Path, saved: Sequence[str] | None, classes: Sequence[str]) -> None:
    """The same configuration over a changed manifest: the head's rows would mean other
    classes, silently, when the count stays the same."""
    if saved is None or list(saved) == list(classes):
        return
    changed = sum(a != b for a, b in zip(saved, classes, strict=False))
    changed += abs(len(saved) - len(classes))
    raise checkpoint.unusable(
        path,
        f"written for other classes: {len(saved)} then, {len(classes)} now, {changed} differ",
    )
