"""The test-split guard: ``run`` (its pruner included), ``report``, ``ablate`` and
``audit-pruner`` never read a test image; ``confirm`` reads each one once per run.

Every pixel any model sees leaves the decode-once cache through ``ImageCache.read``; the guard
records the rows each command reads and checks them against the test split's rows.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from study.cli import main
from study.confirm.command import ConfirmOptions, confirm
from study.data import prepare_split
from study.rebuild import study_run
from tests.study.helpers import storage_url, write_space
from vitlab.cache import ImageCache
from vitlab.dataset import load_dataset


class Guard:
    """Every row ``ImageCache.read`` is asked for, by the command that asked."""

    def __init__(self) -> None:
        self.command = "setup"
        self.rows: dict[str, list[np.ndarray]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        read = ImageCache.read
        guard = self

        def guarded(cache: ImageCache, rows: np.ndarray) -> np.ndarray:
            guard.rows.setdefault(guard.command, []).append(np.asarray(rows).copy())
            return read(cache, rows)

        monkeypatch.setattr(ImageCache, "read", guarded)

    def read_by(self, command: str) -> set[int]:
        return {int(r) for batch in self.rows.get(command, []) for r in batch}


@pytest.mark.slow
def test_only_confirm_reads_the_test_split(in_tmp, tiny_manifest, monkeypatch, capsys):
    space = write_space(in_tmp, trials=4, epochs=2, gap_threshold=None)
    raw = yaml.safe_load(space.read_text())
    raw["points"] = {"fix_list": {"drop_rate": 0.3}}  # one factor: a 2-run ablation
    # a floor no tiny trial reaches: every trial but the baseline is pruned, for the audit
    raw["pruner"]["wrapped"] = {"type": "floor", "chance_multiple": 20, "n_warmup_steps": 0}
    space.write_text(yaml.safe_dump(raw))
    url = storage_url(in_tmp)
    guard = Guard()
    guard.install(monkeypatch)
    steps = {
        "run": ["run", "--space", str(space), "--data", str(tiny_manifest), "--storage", url],
        "report": ["report", "--storage", url],
        "ablate": ["ablate", "--storage", url, "--to", "fix_list", "--seeds", "1"],
        "audit-pruner": ["audit-pruner", "--storage", url, "--sample", "2"],
    }
    for command, argv in steps.items():
        guard.command = command
        assert main(argv) == 0, capsys.readouterr().err
    guard.command = "confirm"
    confirm(ConfirmOptions(storage=url, top=1, seeds=1), out=io.StringIO())
    guard.command = "report again"
    assert main(["report", "--storage", url]) == 0

    test_rows = _test_rows(url, in_tmp / "scratch")
    assert len(test_rows) > 0
    for command in (*steps, "report again"):
        assert guard.read_by(command) & test_rows == set(), command
    assert guard.read_by("run") and guard.read_by("ablate") and guard.read_by("audit-pruner")
    assert test_rows <= guard.read_by("confirm")  # and what scores the test split


def _test_rows(url: str, scratch: Path) -> set[int]:
    """The cache rows of the study's test images (mapping paths to rows reads no pixel)."""
    run = study_run(optuna.load_study(study_name="tiny", storage=url))
    prepared = prepare_split(run.data, scratch, out=io.StringIO())
    dataset = load_dataset(prepared.data, image_size=run.image_size, split=prepared.split)
    return {int(r) for r in dataset.test.rows}
