"""``run``'s command line resolved against its search space once, into a frozen :class:`RunPlan`.

Every default is filled in here (the command line's, else the space's, else the runner's), so
nothing after :func:`plan_run` reads the options or asks the space for a setting again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from study.space.load import DEFAULT_SPACE
from study.space.spec import SearchSpace
from study.storage import DEFAULT_ARTIFACTS, default_storage_url, heartbeat_settings
from vitlab.config import DataConfig
from vitlab.errors import UserError

__all__ = ["DEFAULT_TRIALS", "RunOptions", "RunPlan", "plan_run", "study_data_config"]

DEFAULT_TRIALS = 12  # a space without ``trials`` and no --trials


@dataclass(frozen=True)
class RunOptions:
    """``python -m study run``'s options as given: None where a flag was left out."""

    space: Path = DEFAULT_SPACE
    data: Path | None = None  # a manifest or an image folder
    train: Path | None = None  # or split files
    val: Path | None = None
    test: Path | None = None
    study_name: str | None = None
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None
    device: str | None = None
    seed: int = 0
    heartbeat: int | None = None
    grace: int | None = None
    artifacts: Path = DEFAULT_ARTIFACTS  # each trial's curves.html, for optuna-dashboard


@dataclass(frozen=True)
class RunPlan:
    """What a run does, every default filled in: made by :func:`plan_run`, read by the runner."""

    space: SearchSpace
    study_name: str
    storage_url: str
    trials: int  # finished trials the study should reach
    timeout: float | None  # seconds after which no trial starts; None: no limit
    data: DataConfig  # the space's data section with the command line's source
    image_size: int  # the baseline's: the image cache's size
    device: str | None  # None: each trial's config says
    seed: int  # every trial's training seed
    heartbeat: int  # seconds
    grace: int  # seconds without a heartbeat before a trial is failed
    artifacts: Path


def plan_run(opts: RunOptions, space: SearchSpace) -> RunPlan:
    """``opts`` against ``space``; bad flags fail here, before any data or storage is read."""
    heartbeat, grace = heartbeat_settings(opts.heartbeat, opts.grace)
    return RunPlan(
        space=space,
        study_name=opts.study_name or space.name,
        storage_url=opts.storage or default_storage_url(),
        trials=opts.trials or space.trials or DEFAULT_TRIALS,
        timeout=opts.timeout or space.timeout,  # the space's safety net
        data=study_data_config(opts, space),
        image_size=space.train_config(space.baseline).image_size,
        device=opts.device,
        seed=opts.seed,
        heartbeat=heartbeat,
        grace=grace,
        artifacts=opts.artifacts,
    )


def study_data_config(opts: RunOptions, space: SearchSpace) -> DataConfig:
    """The space's data section with the command line's source, if it names one."""
    data = space.data_config() or DataConfig()
    if opts.test is not None and opts.train is None:
        raise UserError("--test goes with --train and --val (a --data manifest is split here)")
    if opts.train is not None or opts.val is not None:
        if opts.train is None or opts.val is None:
            raise UserError("--train and --val go together")
        files = {
            "train": str(opts.train),
            "val": str(opts.val),
            "test": None if opts.test is None else str(opts.test),
        }
        return dataclasses.replace(data, manifest=None, **files)
    if opts.data is not None:
        return dataclasses.replace(data, manifest=str(opts.data), train=None, val=None, test=None)
    return data
