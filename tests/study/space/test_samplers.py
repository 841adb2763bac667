"""Per-trial seeding: workers on one study draw distinct trials; one worker stays reproducible."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.storages import RDBStorage

from study.space.checks import SpaceError
from study.space.load import load_space
from study.space.samplers import SAMPLERS as REGISTRY
from study.space.samplers import SamplerType, TrialSeeded, build_sampler, random_states
from study.space.spec import SearchSpace
from tests.study.helpers import write_space

GRID = {"weight_decay": [0.001, 0.01, 0.1], "drop_rate": [0.0, 0.25, 0.5]}
# Sampler settings -> how many random states it holds (itself and the samplers it falls back to).
SAMPLERS = [
    ({"type": "tpe", "seed": 0}, 2),
    ({"type": "random", "seed": 0}, 1),
    ({"type": "grid", "seed": 0, "grid": GRID}, 1),
    ({"type": "gp", "seed": 0, "n_startup_trials": 3}, 2),
    ({"type": "qmc", "seed": 0, "scramble": True}, 1),
]
TRIALS = 6


def space_file(folder: Path, sampler: dict[str, Any]) -> Path:
    path = write_space(folder)
    raw = yaml.safe_load(path.read_text())
    raw["sampler"] = sampler
    path.write_text(yaml.safe_dump(raw))
    return path


def run_workers(
    space: SearchSpace, storage: RDBStorage, name: str, workers: int
) -> list[tuple[Any, ...]]:
    """``workers`` processes' samplers (fresh, same seed) asking in turn, two trials in flight."""
    studies = [
        optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=space.make_sampler(),
            direction="maximize",
            load_if_exists=True,
        )
        for _ in range(workers)
    ]
    running: list[tuple[optuna.Study, optuna.Trial]] = []
    for i in range(TRIALS):
        study = studies[i % workers]
        trial = study.ask()
        space.suggest(trial)
        running.append((study, trial))
        if len(running) == 2:  # the older trial finishes while the newer one runs
            done_study, done = running.pop(0)
            done_study.tell(done, sum(float(v) for v in done.params.values()))
    for study, trial in running:
        study.tell(trial, 0.0)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    return [tuple(t.params.values()) for t in trials]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(("sampler", "states"), SAMPLERS, ids=lambda v: str(v))
def test_workers_and_restarts_draw_distinct_trials_and_one_worker_is_reproducible(
    sampler, states, tmp_path
):
    space = load_space(space_file(tmp_path, sampler))
    made = space.make_sampler()
    assert isinstance(made, TrialSeeded) and len(random_states(made.base)) == states

    # Three fresh samplers (workers, or a worker and its restarts) on one study.
    storage = RDBStorage(f"sqlite:///{tmp_path / 'studies.db'}")  # one file, a study per run
    drawn = run_workers(space, storage, "workers", 3)
    assert len(set(drawn)) == TRIALS, drawn

    # One worker: the same seed gives the same study.
    once = run_workers(space, storage, "once", 1)
    again = run_workers(space, storage, "again", 1)
    assert once == again


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_registered_key_and_default_is_an_argument_of_the_optuna_class(kind):
    """The table the load check and the builder share names real constructor arguments."""
    entry = REGISTRY[kind]
    arguments = set(inspect.signature(entry.cls).parameters)
    yaml_only = {"grid"} if entry.takes_grid else set()  # becomes GridSampler's search_space
    assert set(entry.keys) - yaml_only <= arguments
    assert set(entry.defaults) <= set(entry.keys)
    assert entry.takes_grid == ("search_space" in arguments)


def test_a_default_outside_the_accepted_keys_is_refused():
    with pytest.raises(ValueError, match=r"defaults \['multivariat'\] are not keys of TPESampler"):
        SamplerType(optuna.samplers.TPESampler, {"seed": int}, defaults={"multivariat": True})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "tpee"}, r"sampler.type: unknown sampler 'tpee'; did you mean tpe\?"),
        ({"type": "random", "seed": -1}, r"sampler: Seed must be between 0 and 2\*\*32 - 1"),
        ({"type": "tpe", "seed": True}, "sampler.seed: expected int, got True"),
    ],
    ids=["unknown type", "a value Optuna or the seeding refuses", "a bool for an int"],
)
def test_the_builder_checks_a_space_made_in_code_like_a_loaded_file(tmp_path, settings, message):
    space = dataclasses.replace(load_space(write_space(tmp_path)), sampler=settings)
    with pytest.raises(SpaceError, match=message):
        build_sampler(space.sampler, space.params, space.source)
