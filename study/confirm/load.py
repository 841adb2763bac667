"""The confirmation as the report reads it: the linked study ``<study>:confirm``'s chosen
configurations and each finished run's val and test scores, with its test predictions."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from study import predictions, records
from study.ablate.runs import KEY, RUN_SEED, linked_name
from study.analysis.inputs import ConfirmConfig, ConfirmRun, ConfirmRuns, Predictions
from study.confirm.measure import TEST_EPOCH
from study.confirm.select import CONFIGS_ATTR, SUFFIX, TEST_ATTR

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

__all__ = ["load_confirm"]


def load_confirm(
    study_name: str,
    storage: BaseStorage,
    store: ArtifactStore | None,
    *,
    err: TextIO | None = None,
) -> ConfirmRuns | None:
    """The confirmation of ``study_name`` (None: ``confirm`` never ran for it). A test
    predictions file that cannot be read leaves its run without predictions (one warning)."""
    name = linked_name(study_name, SUFFIX)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    linked = optuna.load_study(study_name=name, storage=storage)
    chosen: list[dict[str, Any]] = list(linked.user_attrs.get(CONFIGS_ATTR) or [])
    by_key = _finished_by_key(linked)
    runs = []
    for c in chosen:
        for key in c.get("keys", []):
            trial = by_key.get(key)
            if trial is not None:
                runs.append(_run(int(c["trial"]), trial, store, err or sys.stderr))
    test = linked.user_attrs.get(TEST_ATTR) or {}
    return ConfirmRuns(
        configs=tuple(
            ConfirmConfig(int(c["trial"]), float(c["search_val"]), bool(c["baseline"]))
            for c in chosen
        ),
        seeds=tuple(int(s) for s in (chosen[0]["seeds"] if chosen else ())),
        runs=tuple(runs),
        test_images=int(test.get("images", 0)),
        test_classes=int(test.get("test_classes", 0)),
        classes=int(test.get("classes", 0)),
        thin_classes=int(test.get("thin_classes", 0)),
    )


def _finished_by_key(linked: optuna.Study) -> dict[str, FrozenTrial]:
    found: dict[str, FrozenTrial] = {}
    for t in linked.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get(KEY)
        if key is not None and t.value is not None and records.TEST_TOP1 in t.user_attrs:
            found.setdefault(str(key), t)
    return found


def _run(config: int, t: FrozenTrial, store: ArtifactStore | None, err: TextIO) -> ConfirmRun:
    attrs = t.user_attrs
    return ConfirmRun(
        trial=config,
        seed=int(attrs[RUN_SEED]),
        val_top1=float(t.value or 0.0),
        test_top1=float(attrs[records.TEST_TOP1]),
        best_epoch=int(attrs.get(TEST_EPOCH, 0)),
        test=_predictions(t, records.TEST_PREDICTIONS, store, err),
        val=_predictions(t, records.PREDICTIONS, store, err),
    )


def _predictions(
    t: FrozenTrial, attr: str, store: ArtifactStore | None, err: TextIO
) -> Predictions | None:
    artifact = t.user_attrs.get(attr)
    if store is None or not artifact:
        return None
    try:
        return Predictions.from_array(predictions.download(store, str(artifact)))
    except Exception as e:  # a deleted or foreign file: the run keeps its scores
        print(
            f"warning: confirmation run {t.number}: {attr} not read ({type(e).__name__}: "
            f"{e}); its image-by-image comparisons are left out",
            file=err,
        )
        return None
