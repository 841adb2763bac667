"""The pruner audit on a planted late bloomer: a study searched with the project's default
pruner, where one configuration's val top-1 rises only after the pruner looked at it. The
pruner stops it; the audit reruns it to the full budget and finds the false prune."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import optuna
import pytest

from study import records
from study.ablate.runs import RunSpec
from study.analysis.audit import get_audit_info
from study.audit.command import AuditOptions, audit_pruner
from study.pruners.decision import OVERFITTING, may_prune, take_decision
from study.pruners.registry import DEFAULT_PRUNER_SETTINGS, build_pruner
from study.report.load import load_inputs
from study.space.load import space_from_dict
from tests.study.ablate.planted import recorded_study

EPOCHS = 8
BLOOMER, DUD = 0.5, 0.4  # drop_rate of the late bloomer and of a trial that is simply bad


def curve(params: Mapping[str, Any], epochs: int = EPOCHS) -> list[float]:
    """The planted val top-1 per epoch: normal trials rise slowly, the bloomer jumps after
    epoch 4 (after the median pruner looked, at epoch 2), the dud stays near zero."""
    d = float(params["drop_rate"])
    if d >= BLOOMER:
        return [0.05 if e <= 4 else 0.6 + 0.005 * e for e in range(1, epochs + 1)]
    if d >= DUD:
        return [0.05 + 0.001 * e for e in range(1, epochs + 1)]
    return [0.35 + 0.1 * d + 0.01 * e for e in range(1, epochs + 1)]


def _curves(values: list[float]) -> dict[str, list[float]]:
    n = len(values)
    return {
        records.EPOCH: list(range(1, n + 1)),
        records.VAL_TOP1: values,
        records.VAL_LOSS: [2.0 - v for v in values],
        records.TRAIN_TOP1: [v + 0.05 for v in values],
        records.GAP: [0.05] * n,
        records.THROUGHPUT: [100.0] * n,
        "epoch_seconds": [1.0] * n,
    }


def searched(space: Any):
    """An objective that records what ``study.run.objective`` records, on the planted curves."""

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        values = curve(params)
        trial.set_user_attr(records.SEED, 0)
        trial.set_user_attr(records.EPOCHS_PLANNED, EPOCHS)
        for e in range(1, EPOCHS + 1):
            trial.set_user_attr(records.CURVES, _curves(values[:e]))
            trial.report(values[e - 1], step=e)
            if e < EPOCHS and may_prune(trial) and trial.should_prune():
                decision = take_decision(trial, step=e, value=values[e - 1])
                attrs = records.summary_attrs(_curves(values[:e]), float(e))
                attrs.update(
                    {records.PRUNE_REASON: decision.text, records.STOP_KIND: decision.kind}
                )
                if decision.kind == OVERFITTING:
                    attrs[records.STOPPED_EARLY] = True
                    records.write_trial_attrs(trial, attrs)
                    return max(values[:e])
                records.write_trial_attrs(trial, attrs)
                raise optuna.TrialPruned(decision.text)
        records.write_trial_attrs(trial, records.summary_attrs(_curves(values), float(EPOCHS)))
        return max(values)

    return objective


def planted_full_run(session, linked, gate):
    """The audit's measure: the planted curve to the full budget, recorded as the objective
    records a run's curves."""

    def measure(trial: optuna.Trial, spec: RunSpec) -> float:
        values = curve(spec.params, spec.epochs)
        trial.set_user_attr(records.CURVES, _curves(values))
        trial.set_user_attr(records.SECONDS, float(spec.epochs))
        return max(values)

    return measure


@pytest.fixture
def bloomed(tmp_path):
    url = recorded_study(tmp_path)
    study = optuna.load_study(
        study_name="tiny", storage=url, pruner=build_pruner(DEFAULT_PRUNER_SETTINGS)
    )
    space = space_from_dict(records.StudyRecord.from_study(study).space)
    base = dict(space.baseline)
    for d in (0.0, 0.1, 0.2, BLOOMER, DUD, 0.15):  # 3 normal trials first: the median's startup
        study.enqueue_trial({**base, "drop_rate": d})
    study.optimize(searched(space), n_trials=6)
    return url, study


def test_the_pruner_stops_the_late_bloomer_and_the_audit_finds_it(bloomed):
    url, study = bloomed
    by_rate = {t.params["drop_rate"]: t for t in study.trials if "drop_rate" in t.params}
    bloomer, dud = by_rate[BLOOMER], by_rate[DUD]
    assert bloomer.state == dud.state == optuna.trial.TrialState.PRUNED  # the pruner stopped both
    assert bloomer.user_attrs[records.STOP_KIND] == "median"

    out = io.StringIO()
    sample = audit_pruner(AuditOptions(storage=url), out=out, measure=planted_full_run)
    assert {s.trial for s in sample} == {bloomer.number, dud.number}
    assert "next: python -m study report" in out.getvalue()

    inputs = load_inputs(study, None, storage=study._storage)
    info = get_audit_info(inputs)
    judged = {t.trial: t for t in info.trials}
    late = judged[bloomer.number]
    assert late.false_prune is True
    assert (late.stopped_epoch, late.stopped_value) == (2, 0.05)  # the median looked at 2
    assert late.full_value == pytest.approx(0.64)
    assert late.overtook_epoch == 5 and late.top_epoch == 5  # it rose at epoch 5, past the best
    assert judged[dud.number].false_prune is False
    overall = info.rates[0]
    assert (overall.audited, overall.false_prunes) == (2, 1)
    assert info.cost == pytest.approx(0.64 - 0.45)  # what the pruner may have cost

    # the same command again: nothing is rerun
    audit_pruner(AuditOptions(storage=url), out=io.StringIO(), measure=planted_full_run)
    linked = optuna.load_study(study_name="tiny:audit", storage=url)
    assert len(linked.trials) == 2
