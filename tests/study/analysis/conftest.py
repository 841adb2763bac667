"""Fixtures of the section tests."""

from __future__ import annotations

import optuna
import pytest

from study.analysis.inputs import ReportInputs
from study.analysis.planted import Planted, planted_inputs


@pytest.fixture(scope="session")
def ten_thousand_trials() -> ReportInputs:
    """A planted study of 10,000 random trials, some pruned: made once (~6 s), read by the
    sections' scale tests (caps, sizes; their timings are printed, never asserted)."""
    return planted_inputs(
        Planted(), 10_000, sampler=optuna.samplers.RandomSampler(0), prune_below=0.05
    )
