"""`python -m study pretrain`: a space's local weights made offline, then used by `run`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
import yaml

from study.run.runner import RunOptions, run_study
from study.weights import make_weights
from tests.helpers import TINY_VIT
from vitlab.errors import UserError


def write_space(folder: Path) -> Path:
    space = {
        "name": "tiny_pretrained",
        "trials": 2,
        "fixed": {
            "image_size": 16,
            "epochs": 1,
            "batch_size": 32,
            "train_eval_images": 64,
            "device": "cpu",
            "threads": 1,
        },
        "models": {
            "one": {"name": "vit_tiny_patch16_224", "kwargs": TINY_VIT},
            "two": {"name": "vit_tiny_patch16_224", "kwargs": {**TINY_VIT, "depth": 2}},
        },
        "pretrained_weights": {"mine": {"one": "w/one.pt", "two": "w/two.pt"}},
        "params": {
            "model": {"type": "categorical", "choices": ["one", "two"]},
            "pretrained": {"type": "categorical", "choices": ["none", "mine"]},
        },
        "baseline": {"model": "one", "pretrained": "mine"},
        "sampler": {"type": "random", "seed": 0},
    }
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def test_make_weights_writes_each_preset_once(tmp_path, pretrain_manifest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path)
    out = io.StringIO()
    files = make_weights(space, epochs=1, manifest=pretrain_manifest, out=out)
    assert files == {"one": tmp_path / "w/one.pt", "two": tmp_path / "w/two.pt"}
    depth = {
        k: torch.load(f, weights_only=False)["config"]["model_kwargs"]["depth"]
        for k, f in files.items()
    }
    assert depth == {"one": 1, "two": 2}
    assert "pretraining one" in out.getvalue() and "epoch   1/1" in out.getvalue()
    stamp = files["one"].stat().st_mtime_ns
    again = io.StringIO()
    assert make_weights(space, epochs=1, manifest=pretrain_manifest, out=again) == files
    assert files["one"].stat().st_mtime_ns == stamp
    assert again.getvalue().count("exists (--force to retrain)") == 2


def test_make_weights_for_one_model(tmp_path, pretrain_manifest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = make_weights(
        write_space(tmp_path),
        models=["two"],
        epochs=1,
        manifest=pretrain_manifest,
        out=io.StringIO(),
    )
    assert list(files) == ["two"] and not (tmp_path / "w/one.pt").exists()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "theirs"}, "no pretrained_weights 'theirs' (it has: mine)"),
        ({"models": ["three"]}, "pretrained_weights.mine has no model 'three'"),
    ],
)
def test_make_weights_errors(kwargs, expected, tmp_path, pretrain_manifest):
    with pytest.raises(UserError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        make_weights(write_space(tmp_path), manifest=pretrain_manifest, **kwargs)


def test_run_refuses_a_space_whose_weights_are_missing(tmp_path, tiny_manifest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path)
    with pytest.raises(UserError) as info:
        run_study(RunOptions(space=space, data=tiny_manifest), out=open(os.devnull, "w"))
    message = str(info.value)
    assert "w/one.pt" in message and "w/two.pt" in message
    assert f"python -m study pretrain --space {space}" in message
    assert not (tmp_path / "results" / "studies.db").exists()  # nothing started


def test_run_fine_tunes_from_the_weights(tmp_path, tiny_manifest, pretrain_manifest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path)
    make_weights(space, epochs=1, manifest=pretrain_manifest, out=io.StringIO())
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=f"sqlite:///{tmp_path}/s.db"),
        out=open(os.devnull, "w"),
    )
    baseline = study.trials[0]
    assert baseline.params == {"model": "one", "pretrained": "mine"}
    assert baseline.state.name == "COMPLETE"
    for trial in study.trials:  # the resolved file of the trial's model, or None
        model, weights = trial.params["model"], trial.params["pretrained"]
        expected = None if weights == "none" else str(tmp_path / f"w/{model}.pt")
        assert trial.user_attrs["pretrained"] == expected
