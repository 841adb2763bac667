"""The record schema: attrs -> TrialRecord / StudyRecord, and the best-epoch rule."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from study import records
from study.records import StudyRecord, TrialRecord
from tests.study.helpers import sqlite_study
from vitlab.metrics import EpochMetrics, best_index

# ------------------------------------------------------------------------- metric names


def test_the_metric_names_are_the_curves_keys():
    m = EpochMetrics(*range(1, 14))
    assert records.METRICS == tuple(m.as_dict())  # what the objective appends to the curves
    for name in ("EPOCH", "TRAIN_LOSS", "TRAIN_TOP1", "TRAIN_PROBE_LOSS", "VAL_LOSS", "VAL_TOP1"):
        assert getattr(records, name) in m.as_dict(), name
    assert {records.GAP, records.THROUGHPUT} <= set(m.as_dict())


def test_a_renamed_metric_field_fails_at_import():
    code = (
        "import dataclasses, vitlab.metrics as m\n"
        "fields = [(f.name.replace('gap', 'spread'), f.type) for f in dataclasses.fields("
        "m.EpochMetrics)]\n"
        "m.EpochMetrics = dataclasses.make_dataclass('EpochMetrics', fields)\n"
        "import study.records\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "RuntimeError: EpochMetrics has no field ['gap']" in r.stderr


# ------------------------------------------------------------------------- best epoch


@pytest.mark.parametrize(
    ("curves", "expected"),
    [
        ({"epoch": [1, 2, 3], "val_top1": [0.1, 0.3, 0.2], "val_loss": [3.0, 2.0, 2.5]}, 2),
        # A tie on val top-1 goes to the lower val loss, then to the earlier epoch.
        ({"epoch": [1, 2, 3], "val_top1": [0.3, 0.3, 0.3], "val_loss": [2.0, 1.5, 1.5]}, 2),
        ({"epoch": [1, 2], "val_top1": [math.nan, 0.1], "val_loss": [1.0, 2.0]}, 2),
        ({"epoch": [4, 5], "val_top1": [0.2, 0.1]}, 4),  # the epoch's label, not its position
        ({"val_top1": [0.1, 0.2]}, 2),  # no epoch labels: 1-based positions
        ({"epoch": [1], "val_top1": [math.nan]}, None),
        ({}, None),
    ],
)
def test_best_epoch_is_the_engines_rule(curves, expected):
    assert records.best_epoch(curves) == expected
    i = best_index(curves.get("val_top1", []), curves.get("val_loss"))
    assert records.best_metrics(curves) == (
        {} if i is None else {k: v[i] for k, v in curves.items()}
    )


def test_summary_attrs_are_the_best_epochs_numbers():
    curves = {
        "epoch": [1, 2],
        "val_top1": [0.2, 0.4],
        "val_loss": [2.0, 1.8],
        "train_top1": [0.3, 0.6],
        "gap": [0.1, 0.2],
        "images_per_second": [100.0, 300.0],
    }
    assert records.summary_attrs(curves, 12.34567) == {
        "epochs_run": 2,
        "seconds": 12.346,
        "images_per_second": 200.0,
        "best_epoch": 2,
        "best": {k: v[1] for k, v in curves.items()},
        "best_val_top1": 0.4,
        "best_val_loss": 1.8,
        "best_train_top1": 0.6,
        "best_gap": 0.2,
    }


# ------------------------------------------------------------------------- TrialRecord

CURVES = {
    "epoch": [1, 2],
    "val_top1": [0.5, 0.25],
    "val_loss": [1.0, 2.0],
    "gap": [0.0, 0.1],
    "images_per_second": [10.0, 30.0],
}
FIRST = {"epoch": 1, "val_top1": 0.5, "val_loss": 1.0, "gap": 0.0, "images_per_second": 10.0}
SUMMARY = records.summary_attrs(CURVES, 5.0)
FAILED = "RuntimeError: corrupt batch"
AS_STORED = {
    "seed": 3,
    "device": "cpu",
    "num_params": 1000,
    "pretrained": None,
    "epochs_planned": 4,
    "class_coverage": 0.75,
    "worker": "host:12",
    "prune_reason": "overfitting: gap 0.10",
    "stop_kind": "overfitting",
    "stopped_early": True,
    "ended": "stopped early: overfitting: gap 0.10",
}


@pytest.mark.parametrize(
    ("attrs", "state", "expected"),
    [
        (
            {"baseline": True, "curves": CURVES, **SUMMARY, **AS_STORED},
            TrialState.COMPLETE,
            {
                "baseline": True,
                "best_epoch": 1,
                "best": FIRST,
                "epochs_run": 2,
                "seconds": 5.0,
                "images_per_second": 20.0,
                **AS_STORED,  # each such field is named as its attr
                "error": None,
            },
        ),
        (  # its worker killed after the curves, before the summary: the best from the curves
            {"curves": CURVES, "worker": "host:7"},
            TrialState.FAIL,
            {
                "baseline": False,
                "best_epoch": 1,
                "best": FIRST,
                "epochs_run": None,
                "stopped_early": False,
                "worker": "host:7",
            },
        ),
        (
            {"error": FAILED, "ended": f"failed: {FAILED}"},
            TrialState.FAIL,
            {
                "curves": {},
                "best_epoch": None,
                "best": {},
                "error": FAILED,
                "ended": f"failed: {FAILED}",
                "seconds": None,
                "prune_reason": None,
                "artifact_error": None,
            },
        ),
        (
            {"prune_reason": "below the floor", "artifact_error": "note: OSError: full"},
            TrialState.PRUNED,
            {"prune_reason": "below the floor", "artifact_error": "note: OSError: full"},
        ),
    ],
    ids=["every attr", "no summary", "failed", "pruned"],
)
def test_a_trial_record_reads_every_attr(attrs, state, expected, tmp_path):
    study = sqlite_study(tmp_path)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    (frozen,) = study.get_trials()
    record = TrialRecord.from_trial(frozen)
    assert {name: getattr(record, name) for name in expected} == expected
    assert (record.number, record.state, record.params) == (0, state, frozen.params)
    assert record.value == (0.5 if state == TrialState.COMPLETE else None)
    assert record.datetime_start == frozen.datetime_start
    assert record.duration == frozen.duration and record.duration is not None
    assert record.curves == attrs.get("curves", {})


def test_a_running_trial_has_no_duration():
    assert TrialRecord().duration is None and TrialRecord().state == TrialState.RUNNING


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"number": -1}, "number must be an integer >= 0, got -1"),
        ({"number": "3"}, "number must be an integer >= 0, got '3'"),
        ({"state": "COMPLETE"}, "state must be a TrialState, got 'COMPLETE'"),
    ],
)
def test_a_trial_record_refuses_what_no_trial_has(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrialRecord(**fields)


# ------------------------------------------------------------------------- StudyRecord

RECORD = StudyRecord(
    dataset_fingerprint="f" * 64,
    data_source="data/demo/manifest.jsonl",
    split_summary={"classes": 2, "images_per_split": {"train": 5, "val": 2, "test": 1}},
    space={"name": "tiny"},
    roles={"lr": "scientific"},
    baseline_params={"lr": 0.001, "model": "vit"},
    train_seed=0,
    versions={"optuna": optuna.__version__},
    train_counts=[3, 2],
    classes=["cat", "dog"],
    class_counts=[5, 3],
    split_files={"train": "/data/split/train.jsonl", "val": "/data/split/val.jsonl"},
    data_config={"manifest": "data/demo/manifest.jsonl", "split_seed": 0, "val_frac": 0.1},
)


def test_a_study_record_written_reads_back_the_same(tmp_path):
    study = sqlite_study(tmp_path)
    RECORD.write(study)
    again = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{tmp_path / 's.db'}")
    assert StudyRecord.from_study(again) == RECORD
    assert again.user_attrs["baseline_params"] == {"lr": 0.001, "model": "vit"}
    assert again.user_attrs["data_config"]["manifest"] == "data/demo/manifest.jsonl"
    assert "baseline" not in again.user_attrs  # the study's key is no longer a trial's flag's


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({}, StudyRecord()),
        ({"train_seed": 2, "classes": ["a"]}, StudyRecord(train_seed=2, classes=["a"])),
        # A study run before baseline_params: its parameters under the old key still read.
        ({"baseline": {"lr": 0.1}}, StudyRecord(baseline_params={"lr": 0.1})),
        (
            {"baseline": {"lr": 0.1}, "baseline_params": {"lr": 0.2}},
            StudyRecord(baseline_params={"lr": 0.2}),
        ),
        ({"plotlyjs_artifact": {"id": "x"}}, StudyRecord()),  # the dashboard's, not the run's
    ],
    ids=["nothing", "some", "old baseline key", "new key wins", "other attrs"],
)
def test_a_study_record_reads_the_study_attrs(attrs, expected, tmp_path):
    study = sqlite_study(tmp_path)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    assert StudyRecord.from_study(study) == expected
