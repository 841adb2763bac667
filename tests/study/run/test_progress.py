"""The terminal's progress lines say true things whatever the trial numbers."""

from __future__ import annotations

import io

import optuna
import pytest
from optuna.trial import TrialState

from study.run.progress import Progress


@pytest.mark.parametrize(
    ("earlier", "total", "expected"),
    [
        ([], 3, "trial 0 (0/3 finished)"),
        ([TrialState.COMPLETE, TrialState.PRUNED], 3, "trial 2 (2/3 finished)"),
        # A retry, or another worker's trials: the number runs past the target.
        ([TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE], 3, "trial 3 (2/3 finished)"),
        ([TrialState.COMPLETE] * 3 + [TrialState.RUNNING], 3, "trial 4 (3/3 finished)"),
    ],
)
def test_the_trial_line_never_reads_trial_4_of_3(earlier, total, expected, tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    for state in earlier:
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        if state == TrialState.COMPLETE:
            study.tell(trial, 0.5)
        elif state != TrialState.RUNNING:
            study.tell(trial, state=state)
    out = io.StringIO()
    trial = study.ask()
    Progress(total, out=out).on_start(trial, {"x": 0.25})
    assert out.getvalue() == f"{expected}  x=0.25\n"
