"""A recorded study with no training behind it, and a fake training function with planted
effects: the known answer the ablation machinery must recover from real storage."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState, create_trial

from study import records
from study.ablate.runs import RunSpec
from study.space.load import load_space
from tests.study.helpers import write_space

# The planted answer, in val top-1 points: what moving each factor from the baseline's value to
# the target's buys (main effects), one interaction, and the run-to-run noise.
PLANTED = {"weight_decay": 6.0, "drop_rate": -3.0, "label_smoothing": 1.5, "min_images": 0.0}
INTERACTION = (("weight_decay", "drop_rate"), 2.0)
NOISE_POINTS = 1.0
BASE_TOP1 = 0.40
TARGET = {"weight_decay": 0.05, "drop_rate": 0.3, "label_smoothing": 0.2, "min_images": 3}


def planted_space(folder: Path) -> Path:
    """The tests' tiny space with label smoothing searched too, a nuisance lr, and a point."""
    path = write_space(folder)
    raw = yaml.safe_load(path.read_text())
    raw["fixed"].pop("lr")
    raw["params"]["label_smoothing"] = {"type": "float", "low": 0.0, "high": 0.3}
    raw["params"]["lr"] = {"type": "float", "low": 1e-3, "high": 1e-2, "role": "nuisance"}
    raw["baseline"].update(label_smoothing=0.1, lr=2e-3)
    raw["points"] = {"fix_list": dict(TARGET)}
    path.write_text(yaml.safe_dump(raw))
    return path


def recorded_study(folder: Path, *, best: Mapping[str, Any] | None = None) -> str:
    """A study on ``folder/studies.db`` recorded as ``run`` records one, with a finished
    baseline and (optionally) a better trial of parameters ``best``; returns the storage URL."""
    space = load_space(planted_space(folder))
    url = f"sqlite:///{folder / 'studies.db'}"
    study = optuna.create_study(study_name="tiny", storage=url, direction="maximize")
    records.StudyRecord(
        dataset_fingerprint="f" * 64,
        data_source="planted",
        split_summary={"images_per_split": {"train": 900, "val": 300}, "classes": 10},
        space=space.as_dict(),
        roles=space.roles(),
        baseline_params=dict(space.baseline),
        train_seed=0,
        data_config={"manifest": str(folder / "none.jsonl")},
    ).write(study)
    distributions = {p.name: p.distribution() for p in space.params}
    for params, value, baseline in ((space.baseline, BASE_TOP1, True), (best, 0.5, False)):
        if params is None:
            continue
        attrs = {records.BASELINE: True} if baseline else {}
        attrs.update({records.SECONDS: 12.0, records.EPOCHS_RUN: 3})
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params={**space.baseline, **params},
                distributions=distributions,
                user_attrs=attrs,
            )
        )
    return url


def planted_value(spec: RunSpec, baseline: Mapping[str, Any]) -> float:
    """The run's val top-1: the base, half of each planted effect per ±1 level, the planted
    interaction, and noise fixed by the run (so a rerun of one run gives the same value)."""
    x = {name: (-1 if spec.params[name] == baseline[name] else 1) for name in PLANTED}
    points = 100 * BASE_TOP1 + sum(PLANTED[n] / 2 * x[n] for n in PLANTED)
    (a, b), size = INTERACTION
    points += size / 2 * x[a] * x[b]
    digest = hashlib.sha256(f"planted:{spec.key}".encode()).digest()
    noise = np.random.default_rng(int.from_bytes(digest[:8], "little")).normal(0, NOISE_POINTS)
    return (points + noise) / 100
