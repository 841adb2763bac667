"""The trials frame: every trial of a study as one typed row, built from :mod:`study.records`.

The reports read this table and nothing else; it is read from storage once.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import optuna
import pandas as pd

from study.records import (
    ARTIFACT_ERROR,
    BASELINE,
    BEST_EPOCH,
    BEST_PREFIX,
    CLASS_COVERAGE,
    CURVES,
    DEVICE,
    ENDED,
    EPOCHS_PLANNED,
    EPOCHS_RUN,
    ERROR,
    HEADLINE,
    IMAGES_PER_SECOND,
    NUM_PARAMS,
    PRETRAINED,
    PRUNE_REASON,
    SECONDS,
    SEED,
    STOP_KIND,
    STOPPED_EARLY,
    WORKER,
    TrialRecord,
    best_key,
)

# trials_frame's typed columns, each a TrialRecord field of that name, after the parameters.
_FRAME: tuple[tuple[str, str], ...] = (
    (BEST_EPOCH, "Int64"),
    *((best_key(m), "float64") for m in HEADLINE),
    (EPOCHS_RUN, "Int64"),
    (EPOCHS_PLANNED, "Int64"),
    (SECONDS, "float64"),
    (IMAGES_PER_SECOND, "float64"),
    (NUM_PARAMS, "Int64"),
    (SEED, "Int64"),
    (DEVICE, "string"),
    (PRETRAINED, "string"),
    (CLASS_COVERAGE, "float64"),
    (WORKER, "string"),
    (STOP_KIND, "string"),
    (PRUNE_REASON, "string"),
    (STOPPED_EARLY, "bool"),
    (ENDED, "string"),
    (ERROR, "string"),
    (ARTIFACT_ERROR, "string"),
)


def _cell(record: TrialRecord, column: str) -> Any:
    if column.startswith(BEST_PREFIX) and column != BEST_EPOCH:
        return record.best.get(column.removeprefix(BEST_PREFIX))
    return attrgetter(column)(record)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every trial of ``study``, one row each in number order, from one storage read.

    The reports read this table and nothing else. Missing values are NaN (float64) or <NA>
    (Int64, string); a failed trial lacks most. The columns, in order:

    - ``number`` (int64); ``state`` (string: COMPLETE, PRUNED, FAIL, RUNNING, WAITING);
      ``value`` (float64: COMPLETE, the best epoch's val top-1; PRUNED, the last one reported;
      else NaN); ``baseline`` (bool: the seed's recipe, the trial effects are read against);
    - ``params_<name>``: one per parameter of any trial, sorted, typed by pandas from the
      values, named as in ``study.trials_dataframe()`` so that code works on both;
    - ``best_epoch`` (Int64, by :func:`vitlab.metrics.best_index`) and that epoch's
      ``best_val_top1``, ``best_val_loss``, ``best_train_top1``, ``best_gap`` (float64; gap =
      train - val top-1 on the trained classes);
    - ``epochs_run``, ``epochs_planned`` (Int64); ``seconds`` (float64: training time);
      ``images_per_second`` (float64: mean throughput); ``num_params``, ``seed`` (Int64);
      ``device`` (string: cpu, cuda:0, ...); ``pretrained`` (string: the weights file, <NA>
      from scratch); ``class_coverage`` (float64: share of classes trained on); ``worker``
      (string: hostname:pid of the process that ran it);
    - ``stop_kind`` (string: overfitting, floor, median, ...) and ``prune_reason`` (string: its
      text) of a stopped trial; ``stopped_early`` (bool: stopped for overfitting, COMPLETE at
      its best epoch); ``ended`` (string: how it ended, in one line); ``error`` (string: a
      failed trial's exception); ``artifact_error`` (string: a dashboard view not written);
    - ``datetime_start``, ``datetime_complete`` (datetime64[ns]); ``duration``
      (timedelta64[ns]);
    - ``curves`` (object: dict metric -> per-epoch list, {} when none). One object column, not
      flat ones: trials run different numbers of epochs, and the report that draws curves
      reads this table too.
    """
    records = [TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False)]
    params = sorted({name for r in records for name in r.params})
    columns: dict[str, pd.Series] = {
        "number": pd.Series([r.number for r in records], dtype="int64"),
        "state": pd.Series([r.state.name for r in records], dtype="string"),
        "value": pd.Series([r.value for r in records], dtype="float64"),
        BASELINE: pd.Series([r.baseline for r in records], dtype="bool"),
    }
    for name in params:
        columns[f"params_{name}"] = pd.Series([r.params.get(name) for r in records])
    for column, dtype in _FRAME:
        columns[column] = pd.Series([_cell(r, column) for r in records], dtype=dtype)
    for column in ("datetime_start", "datetime_complete"):
        columns[column] = pd.Series([getattr(r, column) for r in records], dtype="datetime64[ns]")
    columns["duration"] = columns["datetime_complete"] - columns["datetime_start"]
    columns[CURVES] = pd.Series([dict(r.curves) for r in records], dtype="object")
    return pd.DataFrame(columns)
