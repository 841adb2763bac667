"""`python -m study train`: progress lines, metrics JSONL, checkpoints, resume, kept metrics."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from study.single_run import TRAIN_ROOT, train_config_file, trial_run_dir
from tests.helpers import TINY_VIT
from vitlab.config import load_train_config
from vitlab.train import Trainer, TrainingError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path, tiny_manifest, cache_root) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {"manifest": str(tiny_manifest), "cache_root": str(cache_root)},
                "model": "vit_tiny_patch16_224",
                "model_kwargs": TINY_VIT,
                "image_size": 16,
                "epochs": 3,
                "batch_size": 32,
                "device": "cpu",
                "threads": 1,
            }
        )
    )
    return path


def test_train_prints_epochs_writes_metrics_and_resumes(config_file, tmp_path):
    metrics, ckpt = tmp_path / "m.jsonl", tmp_path / "ckpt"
    args = [
        sys.executable,
        "-m",
        "study",
        "train",
        "--config",
        str(config_file),
        "--metrics-out",
        str(metrics),
        "--checkpoint-dir",
        str(ckpt),
    ]
    r = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("epoch")] == [
        "1/3",
        "2/3",
        "3/3",
    ]
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert {"train_top1", "val_top1", "val_top5", "gap", "lr", "images_per_second"} <= set(rows[0])
    assert (ckpt / "best.pt").exists() and (ckpt / "config.resolved.yaml").exists()
    # A second run finds the finished checkpoint: nothing is retrained, nothing duplicated.
    again = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "resumed from" in again.stdout
    assert [json.loads(x)["epoch"] for x in metrics.read_text().splitlines()] == [1, 2, 3]


def test_a_failure_keeps_the_metrics_written_so_far(config_file, tmp_path, monkeypatch):
    real_step = Trainer._step
    epochs_of_steps: list[int] = []  # the epoch (0-based) of every training step
    steps_per_epoch = []

    def fail_in_epoch_two(self, *args):
        epochs_of_steps.append(len(self.history))
        steps_per_epoch.append(self.steps_per_epoch)
        if self.history:  # epoch 1 finished
            return torch.tensor(float("nan"))
        return real_step(self, *args)

    monkeypatch.setattr(Trainer, "_step", fail_in_epoch_two)
    metrics = tmp_path / "m.jsonl"
    with pytest.raises(Exception, match="loss became nan at epoch 2"):
        train_config_file(
            config_file, metrics_out=metrics, checkpoint_dir=tmp_path / "c", out=io.StringIO()
        )
    assert [json.loads(x)["epoch"] for x in metrics.read_text().splitlines()] == [1]
    # Every step of epoch 1, then one of epoch 2: a CPU checks the loss at every step.
    assert epochs_of_steps == [0] * steps_per_epoch[0] + [1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("epochs: 3\nlearning_rate: 0.1\n", "unknown key 'learning_rate'"),
        ("epochs: three\n", "epochs: expected int, got 'three'"),
        ("drop_rate: 1.5\n", "drop_rate must be in [0, 1), got 1.5"),
        ("model: vit_smal_patch16_224\n", "did you mean vit_small_patch16_224"),
        ("data: {manifest: nowhere.jsonl}\n", "nowhere.jsonl: no such file"),
        ("epochs: [\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    r = subprocess.run(
        [sys.executable, "-m", "study", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("lr: 1e-3\n", "lr", 0.001),
        ("min_lr: 2E-7\n", "min_lr", 2e-7),
        ("weight_decay: +5e-2\n", "weight_decay", 0.05),
        ("grad_clip: 1e+1\n", "grad_clip", 10.0),
        ("lr: 1.0e-3\n", "lr", 0.001),
    ],
)
def test_train_config_reads_exponents_as_spaces_do(tmp_path, text, key, value):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert getattr(load_train_config(path), key) == value


def test_a_changed_config_is_refused_before_anything_is_written(config_file, tmp_path):
    ckpt, metrics = tmp_path / "ckpt", tmp_path / "m.jsonl"
    settings = yaml.safe_load(config_file.read_text()) | {"epochs": 1, "lr": 0.002}
    config_file.write_text(yaml.safe_dump(settings))
    train_config_file(config_file, metrics_out=metrics, checkpoint_dir=ckpt, out=io.StringIO())
    resolved, measured = (ckpt / "config.resolved.yaml").read_text(), metrics.read_text()
    config_file.write_text(yaml.safe_dump(settings | {"lr": 0.001, "label_smoothing": 0.0}))
    with pytest.raises(TrainingError) as info:
        train_config_file(config_file, metrics_out=metrics, checkpoint_dir=ckpt, out=io.StringIO())
    assert str(info.value) == (
        f"{ckpt / 'last.pt'} was written by another configuration (lr: 0.002 -> 0.001, "
        "label_smoothing: 0.1 -> 0.0); use another --checkpoint-dir or delete it to start over"
    )
    assert (ckpt / "config.resolved.yaml").read_text() == resolved
    assert metrics.read_text() == measured


@pytest.mark.parametrize(
    ("seed", "epochs", "folder"),
    [
        (None, None, "demo-trial3"),
        (2, None, "demo-trial3-seed2"),
        (None, 40, "demo-trial3-epochs40"),
        (0, 40, "demo-trial3-seed0-epochs40"),  # a seed given is named, also the default one
    ],
)
def test_a_retrained_trial_has_its_own_folder(seed, epochs, folder):
    assert trial_run_dir("demo", 3, seed=seed, epochs=epochs) == TRAIN_ROOT / folder
