"""Helpers shared by the study tests: the tiny space, its storage, its CLI, polling the study."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback

from study.run.progress import FINISHED  # noqa: F401 - the tests import it from here
from tests.helpers import TINY_VIT


def write_space(folder: Path, *, trials: int = 4, epochs: int = 3, **pruner: object) -> Path:
    space = {
        "name": "tiny",
        "trials": trials,
        "fixed": {
            "model": "vit_tiny_patch16_224",
            "model_kwargs": TINY_VIT,
            "image_size": 16,
            "epochs": epochs,
            "batch_size": 32,
            "lr": 2e-3,
            "warmup_epochs": 0.5,
            "train_eval_images": 64,
            "device": "cpu",
            "threads": 1,
        },
        "params": {
            "weight_decay": {
                "type": "float",
                "low": 1e-3,
                "high": 0.3,
                "log": True,
                "role": "scientific",
            },
            "drop_rate": {"type": "float", "low": 0.0, "high": 0.5, "role": "scientific"},
            "min_images": {"type": "categorical", "choices": [1, 3], "role": "scientific"},
        },
        "baseline": {"weight_decay": 0.01, "drop_rate": 0.0, "min_images": 1},
        "pruner": {
            "type": "overfitting",
            "warmup_epochs": 1,
            "patience": 1,
            "min_delta": 0.0,
            "gap_threshold": 0.05,
            **pruner,
        },
        "sampler": {"type": "random", "seed": 0},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def storage_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'studies.db'}"


def study_cli(space: Path, url: str, data: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "study",
        "run",
        "--space",
        str(space),
        "--storage",
        url,
        "--data",
        str(data),
        *extra,
    ]


def wait_for(predicate, timeout: float = 240.0, every: float = 0.1) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("timed out waiting")


def running_with_epochs(db: Path) -> bool:
    """A RUNNING trial that has reported at least one epoch (read with plain sqlite3)."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=5) as con:
            rows = con.execute(
                "SELECT COUNT(*) FROM trials t JOIN trial_intermediate_values v "
                "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
            ).fetchone()
    except sqlite3.OperationalError:
        return False
    return rows[0] > 0


def sampled_params(study: optuna.Study) -> list[tuple[tuple[str, object], ...]]:
    """The parameters of every trial that is not a heartbeat retry (those repeat on purpose)."""
    return [
        tuple(sorted(t.params.items()))
        for t in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is None
    ]


def load(url: str) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=url)


def fail_trial(monkeypatch, number: int, error: str = "corrupt batch") -> None:
    """Trial ``number`` raises ``RuntimeError(error)`` as it starts training; the others train."""
    from study.run.objective import Objective

    real = Objective._train

    def flaky(self, trial, config):
        if trial.number == number:
            raise RuntimeError(error)
        return real(self, trial, config)

    monkeypatch.setattr(Objective, "_train", flaky)


def sqlite_study(folder: Path) -> optuna.Study:
    """An empty maximized study in an SQLite file under ``folder``."""
    return optuna.create_study(storage=f"sqlite:///{folder / 's.db'}", direction="maximize")


def kill_then_resume(
    args: list[str], cwd: Path, finished, *, at_least: int = 1
) -> tuple[dict, dict, subprocess.CompletedProcess[str]]:
    """Start the rerun command ``args``, SIGKILL it once ``finished()`` (run trial number ->
    (key, value)) holds ``at_least`` runs, wait past its grace period (``--grace 3``), and run
    it again to the end: (finished before the kill, finished after, the second run)."""
    worker = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(finished()) >= at_least)
        before = finished()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        worker.kill()
    time.sleep(4)  # past the grace period: the dead worker's heartbeat is stale
    second = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    return before, finished(), second
