"""Training YAML: data paths resolve against the file, absolute ones are kept, bad data sections
are one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vitlab.config import ConfigError, load_train_config


def write_config(folder: Path, data: dict) -> Path:
    path = folder / "cfg" / "run.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"data": data}))
    return path


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize(
    "data",
    [
        {"manifest": "m.jsonl", "image_root": "images"},
        {"train": "t.jsonl", "val": "v.jsonl", "test": "s.jsonl"},
    ],
    ids=["manifest", "split files"],
)
def test_absolute_data_paths_are_kept(tmp_path, data, absolute):
    elsewhere = tmp_path / "elsewhere"
    given = {k: str(elsewhere / v) if absolute else v for k, v in data.items()}
    path = write_config(tmp_path, given)
    config = load_train_config(path)
    base = elsewhere if absolute else path.parent
    assert {k: getattr(config.data, k) for k in data} == {k: str(base / v) for k, v in data.items()}


@pytest.mark.parametrize(
    "data",
    [
        {"train": "/abs/train.jsonl"},
        {"val": "v.jsonl"},
        {"test": "s.jsonl"},
        {"manifest": "m.jsonl", "train": "t.jsonl", "val": "v.jsonl"},
    ],
    ids=["train without val", "val without train", "test alone", "manifest and split files"],
)
def test_incomplete_data_sources_are_one_line_naming_the_file(tmp_path, data):
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}") and "\n" not in message, message
    assert "give either manifest, or train and val" in message


@pytest.mark.parametrize(
    ("fracs", "message"),
    [
        ({"val_frac": 0.6, "test_frac": 0.5}, "val_frac + test_frac must be < 1"),
        ({"val_frac": 1.5}, "val_frac must be in [0, 1), got 1.5"),
        ({"test_frac": -0.1}, "test_frac must be in [0, 1), got -0.1"),
    ],
)
def test_data_fractions_must_leave_room_for_train(tmp_path, fracs, message):
    path = write_config(tmp_path, {"manifest": "m.jsonl", **fracs})
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    assert str(info.value).startswith(f"{path}") and message in str(info.value), info.value
