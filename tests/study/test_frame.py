"""trials_frame on a real study written by `run`: its rows, columns and dtypes, and Optuna's own
trials_dataframe() on the columns both have."""

from __future__ import annotations

import os
from typing import Any

import optuna
import pandas as pd
import pytest

from study import records
from study.frame import trials_frame
from study.run.runner import RunOptions, run_study
from tests.study.helpers import fail_trial, sqlite_study, storage_url, write_space

# ------------------------------------------------------------------------- trials_frame

COLUMNS = {
    "number": "int64",
    "state": "string",
    "value": "float64",
    "baseline": "bool",
    "params_drop_rate": "float64",
    "params_min_images": "int64",  # the categorical choices 1 and 3
    "params_weight_decay": "float64",
    "best_epoch": "Int64",
    "best_val_top1": "float64",
    "best_val_loss": "float64",
    "best_train_top1": "float64",
    "best_gap": "float64",
    "epochs_run": "Int64",
    "epochs_planned": "Int64",
    "seconds": "float64",
    "images_per_second": "float64",
    "num_params": "Int64",
    "seed": "Int64",
    "device": "string",
    "pretrained": "string",
    "class_coverage": "float64",
    "worker": "string",
    "stop_kind": "string",
    "prune_reason": "string",
    "stopped_early": "bool",
    "ended": "string",
    "error": "string",
    "artifact_error": "string",
    "datetime_start": "datetime64[ns]",
    "datetime_complete": "datetime64[ns]",
    "duration": "timedelta64[ns]",
    "curves": "object",
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory, tiny_manifest) -> optuna.Study:
    """A real `run`: the baseline completes, trial 1 fails, the floor prunes the rest."""
    folder = tmp_path_factory.mktemp("frame")
    wrapped = {"type": "threshold", "lower": 1.0, "n_warmup_steps": 0}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        fail_trial(mp, 1)
        space = write_space(folder, trials=4, epochs=2, wrapped=wrapped)
        return run_study(
            RunOptions(space=space, data=tiny_manifest, storage=storage_url(folder)),
            out=open(os.devnull, "w"),
        )


def test_the_frame_has_one_row_per_trial_and_the_documented_columns(ran):
    frame = trials_frame(ran)
    assert frame["number"].tolist() == [t.number for t in ran.trials] == [0, 1, 2, 3, 4]
    assert frame["state"].tolist() == ["COMPLETE", "FAIL", "PRUNED", "PRUNED", "PRUNED"]
    assert {c: str(t) for c, t in frame.dtypes.items()} == COLUMNS
    doc = trials_frame.__doc__ or ""
    for column in frame.columns:
        name = "params_<name>" if column.startswith("params_") else column
        assert f"``{name}``" in doc, f"{column} is not documented"


def test_the_frame_holds_what_the_run_recorded(ran):
    frame = trials_frame(ran).set_index("number")
    assert frame["baseline"].tolist() == [True, False, False, False, False]
    assert set(frame["worker"]) == {records.this_worker()}  # the run was this process
    assert frame.loc[1, "error"] == "RuntimeError: corrupt batch"
    assert frame.loc[1, "ended"] == "failed: RuntimeError: corrupt batch"
    assert pd.isna(frame.loc[1, "epochs_run"]) and frame.loc[1, "curves"] == {}
    assert frame.loc[0, "epochs_run"] == 2 and frame.loc[0, "ended"] == "all epochs"
    assert frame.loc[0, "value"] == frame.loc[0, "best_val_top1"]
    for number in (2, 3, 4):
        row = frame.loc[number]
        assert row["epochs_run"] == 1 and row["best_epoch"] == 1
        assert row["prune_reason"].endswith("below the floor 1 at epoch 1")
        # Optuna gives a pruned trial its last reported value.
        assert not row["stopped_early"] and row["value"] == row["curves"]["val_top1"][-1]
    assert pd.isna(frame.loc[1, "value"])
    for number, row in frame.iterrows():
        if number != 1:
            assert len(row["curves"]["epoch"]) == row["epochs_run"]
            assert row["best_epoch"] == records.best_epoch(row["curves"])
            assert row["device"] == "cpu" and row["seed"] == 0 and row["num_params"] > 0


def plain(series: pd.Series) -> list[Any]:
    """The values, missing ones as None (NaN, NaT and <NA> alike), to compare across dtypes."""
    return [None if pd.isna(v) else v for v in series.tolist()]


def test_the_frame_agrees_with_optunas_trials_dataframe(ran):
    ours = trials_frame(ran)
    theirs = ran.trials_dataframe(multi_index=False)
    shared = {
        "number": "number",
        "state": "state",
        "value": "value_val_top1",  # the study names its metric
        "datetime_start": "datetime_start",
        "datetime_complete": "datetime_complete",
        "duration": "duration",
        **{c: c for c in ours.columns if c.startswith("params_")},
        **{
            c: f"user_attrs_{c}"
            for c in ours.columns
            if f"user_attrs_{c}" in theirs.columns and c not in ("baseline", "curves")
        },
    }
    # Every user attr the run wrote that maps to a column is compared (stop_kind: not yet).
    assert {"epochs_run", "best_epoch", "best_val_top1", "worker", "error", "seed"} <= set(shared)
    for column, theirs_column in shared.items():
        assert plain(ours[column]) == plain(theirs[theirs_column]), column
    # A flag: False where Optuna has no attr.
    assert ours["baseline"].tolist() == theirs["user_attrs_baseline"].eq(True).tolist()
    assert plain(ours["curves"].map(lambda c: c or None)) == plain(theirs["user_attrs_curves"])


def test_an_empty_study_has_the_columns_and_no_row(tmp_path):
    frame = trials_frame(sqlite_study(tmp_path))
    assert len(frame) == 0
    expected = {c: t for c, t in COLUMNS.items() if not c.startswith("params_")}
    assert {c: str(t) for c, t in frame.dtypes.items()} == expected
