"""Section 7, all trials: one row each, sortable and filterable in the page."""

from __future__ import annotations

import math
import re
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from study import records
from study.analysis.inputs import ReportInputs
from study.analysis.markup import MISSING
from study.analysis.trials_table import (
    SCRIPT as JS,
)
from study.analysis.trials_table import (
    Column,
    TrialRow,
    draw_trials_table,
    get_trials_table_info,
)
from study.frame import trials_frame

SCRIPT = "<script>alert(1)</script>"
DISTRIBUTIONS = {
    "aug": CategoricalDistribution(["none", SCRIPT]),
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "min_images": CategoricalDistribution([1, 5]),
}
CURVES = {
    records.EPOCH: [1, 2],
    records.VAL_TOP1: [0.1, 0.625],
    records.VAL_LOSS: [3.0, 2.0],
    records.TRAIN_TOP1: [0.2, 0.725],
    records.GAP: [0.1, 0.1],
    "val_top5": [0.2, 0.9],
}


def _trial(state: TrialState, aug: str, **attrs):
    return create_trial(
        state=state,
        value=0.625 if state == TrialState.COMPLETE else None,
        params={"aug": aug, "lr": 0.01, "min_images": 1},
        distributions=DISTRIBUTIONS,
        user_attrs=attrs,
    )


def _inputs(trials: list, val: int = 8) -> ReportInputs:
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    summary = {"images_per_split": {"val": val}}
    return ReportInputs(SCRIPT, trials_frame(study), records.StudyRecord(split_summary=summary))


def _hand_built() -> ReportInputs:
    done = {records.CURVES: CURVES, records.EPOCHS_RUN: 2, records.EPOCHS_PLANNED: 2}
    done |= {records.SECONDS: 12.4, records.NUM_PARAMS: 5_700_000, records.BASELINE: True}
    pruned = {records.STOP_KIND: "floor", records.PRUNE_REASON: SCRIPT, records.EPOCHS_RUN: 1}
    return _inputs(
        [
            _trial(TrialState.COMPLETE, SCRIPT, **done),
            _trial(TrialState.PRUNED, "none", **pruned),
            _trial(TrialState.FAIL, "none", **{records.ERROR: "ValueError: boom"}),
        ]
    )


def test_rows_by_hand():
    info = get_trials_table_info(_hand_built())
    numeric = ["val top-1", "top-5", "gap", "best epoch", "epochs run / planned", "seconds"]
    assert info.columns == (
        Column("#", True),
        Column("state", False),
        Column("aug", False),  # a categorical of strings sorts as text
        Column("lr", True),
        Column("min_images", True),  # a categorical of numbers sorts as numbers
        *(Column(n, True) for n in numeric),
        Column("parameters", True),
        Column("stop / prune reason", False),
    )
    assert info.rows[0] == TrialRow(
        0,
        "COMPLETE",
        (
            ("0 (baseline)", 0.0),
            ("COMPLETE", None),
            (SCRIPT, None),
            ("0.01", 0.01),
            ("1", 1.0),
            ("62.5 %", 0.625),
            ("90.0 %", 0.9),
            ("10.0 %", 0.1),
            ("2", 2.0),
            ("2 / 2", 2.0),
            ("12", 12.4),
            ("5.70 M", 5_700_000.0),
            ("", None),
        ),
    )
    assert info.rows[1].cells[-1] == (f"floor: {SCRIPT}", None)
    assert info.rows[1].cells[9] == (f"1 / {MISSING}", 1.0)
    assert info.rows[2].cells[5:] == ((MISSING, None),) * 7 + (("ValueError: boom", None),)
    assert info.states == (("COMPLETE", 1), ("FAIL", 1), ("PRUNED", 1))
    assert info.val_images == 8
    assert info.noise == pytest.approx(math.sqrt(0.625 * 0.375 / 8))


def test_draw_is_sortable_filterable_and_escaped():
    page = draw_trials_table(get_trials_table_info(_hand_built()))
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="trials-table"' in page and '<select id="trials-state">' in page
    assert '<option value="PRUNED">PRUNED (1)</option>' in page
    assert page.count("<tr data-state=") == 3
    assert page.count('<button type="button">') == 13
    assert page.count('<th data-type="num">') == 10
    assert '<td data-sort="0.625">62.5 %</td>' in page and "<td>2</td>" in page
    assert f"<script>{JS}</script>" in page
    assert "±17.1 points" in page  # one standard error of 62.5 % on 8 images
    assert ' style="' not in page  # no per-row inline styles


def test_script_sorts_clicks_and_filters():
    for needed in ('getElementById("trials-table")', 'getElementById("trials-state")'):
        assert needed in JS
    assert f'v==="{MISSING}"' in JS  # missing cells stay last
    assert "data-sort" in JS and 'addEventListener("click"' in JS and "dir=col===i?-dir" in JS
    assert not re.search(r"TABLE_ID|STATE_ID|MISSING", JS)


@pytest.mark.parametrize(
    "states",
    [[], [TrialState.RUNNING], [TrialState.FAIL, TrialState.PRUNED], [TrialState.COMPLETE]],
)
def test_edge_cases(states):
    info = get_trials_table_info(_inputs([_trial(s, "none") for s in states], val=0))
    assert len(info.rows) == len(states)
    page = draw_trials_table(info)
    assert ("no trials yet" in page) == (not states)
    if states:
        assert "noise of each val top-1 is unknown" in page


def test_speed_at_10k_trials(ten_thousand_trials):
    inputs = ten_thousand_trials
    start = time.perf_counter()
    page = draw_trials_table(get_trials_table_info(inputs))
    seconds = time.perf_counter() - start
    print(f"trials table at 10,000 trials: {seconds:.2f} s, {len(page) / 1e6:.1f} MB")
    assert page.count("<tr data-state=") == 10_000
