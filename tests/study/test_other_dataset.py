"""`python -m study run --data` on a second, harder image set: the baseline survives the floor.

One space, two real datasets of very different difficulty: the tiny demo (24 classes, ~8 images
each, clean labels) and a harder set made here (60 classes, ~5 images each, noisy labels). The
floor, half the baseline's val top-1 at the same epoch, sits where each dataset puts it; the
baseline runs on both, and its record says how it ended.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from study import records
from study.run.runner import RunOptions, run_study
from tests.study.helpers import fail_trial, storage_url, study_cli, write_space
from vitlab.demo import DemoSpec, make_demo_dataset

HARD = DemoSpec(
    num_classes=60, max_images=12, mean_images=6.0, singleton_fraction=0.1, seed=3, label_noise=0.2
)
FLOOR_EPOCH = 2
# The demo space's floor on 4-epoch trials, and its late median (which waits for 3 trials).
FLOOR = {
    "type": "any",
    "pruners": [
        {
            "type": "floor",
            "baseline_fraction": 0.5,
            "chance_multiple": 3,
            "n_warmup_steps": FLOOR_EPOCH,
        },
        {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 3},
    ],
}
OLD_ABSOLUTE_FLOOR = 0.15  # the demo's floor before: made for the demo data


@pytest.fixture(scope="module")
def hard_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("hard") / "hard", HARD, progress=False)


def run_on(folder: Path, manifest: Path) -> optuna.trial.FrozenTrial:
    """A real short study (3 trials of 4 epochs) on ``manifest``; its baseline trial."""
    folder.mkdir()
    space = write_space(folder, trials=3, epochs=4, wrapped=FLOOR)
    url = storage_url(folder)
    done = subprocess.run(
        study_cli(space, url, manifest), cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="tiny", storage=url)
    [baseline] = [t for t in study.trials if t.user_attrs.get("baseline")]
    return baseline


def test_baseline_is_not_pruned_by_the_floor_on_a_harder_dataset(
    tmp_path: Path, tiny_manifest: Path, hard_manifest: Path
) -> None:
    floors = {}
    for name, manifest in (("demo", tiny_manifest), ("hard", hard_manifest)):
        baseline = run_on(tmp_path / name, manifest)
        attrs = baseline.user_attrs
        # Not pruned: it ran every epoch, or early stopping scored it at its best epoch.
        assert baseline.state == TrialState.COMPLETE, (name, attrs.get(records.PRUNE_REASON))
        reason = attrs.get(records.PRUNE_REASON)
        if reason is None:
            assert attrs[records.ENDED] == "all epochs" and attrs["epochs_run"] == 4
        else:
            assert reason.startswith("overfitting: ")
            assert attrs[records.ENDED] == f"stopped early: {reason}"
        floors[name] = 0.5 * baseline.intermediate_values[FLOOR_EPOCH]
    # The floor follows the dataset: the harder set's is far lower, and the old absolute floor
    # would have pruned its baseline.
    assert floors["hard"] < floors["demo"] / 2, floors
    assert 2 * floors["hard"] < OLD_ABSOLUTE_FLOOR, floors


def test_every_trial_record_says_how_it_ended(tmp_path: Path, tiny_manifest: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # results/ (splits, cache) go under tmp_path
    fail_trial(monkeypatch, 2)
    # No overfitting rule can fire in 2 epochs; the floor, 24x chance on 24 classes (1.0),
    # prunes every trial but the baseline at epoch 1.
    floor = {"type": "floor", "chance_multiple": 24, "n_warmup_steps": 1}
    space = write_space(tmp_path, trials=3, epochs=2, patience=5, gap_threshold=None, wrapped=floor)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(tmp_path)),
        out=open(os.devnull, "w"),
    )
    ended = {t.number: t.user_attrs.get(records.ENDED) for t in study.trials}
    top1 = {t.number: t.intermediate_values.get(1) for t in study.trials}
    assert ended == {
        0: "all epochs",
        1: f"pruned: val top-1 {top1[1]:.3f} below 24x chance (1.000) at epoch 1",
        2: "failed: RuntimeError: corrupt batch",
        3: f"pruned: val top-1 {top1[3]:.3f} below 24x chance (1.000) at epoch 1",
    }
