"""``run``'s options resolved once against the space: the command line, else the space, else the
runner's defaults; bad flags fail here, before any data or storage is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from study.run.plan import DEFAULT_TRIALS, RunOptions, plan_run
from study.space.load import load_space
from study.storage import DEFAULT_ARTIFACTS, GRACE_SECONDS, HEARTBEAT_SECONDS, default_storage_url
from tests.study.helpers import write_space
from vitlab.errors import UserError


def tiny_space(folder: Path, **top: object):
    """The tiny space (trials 4, image size 16) with top-level keys replaced (None: removed)."""
    path = write_space(folder)
    raw = yaml.safe_load(path.read_text())
    raw.update(top)
    path.write_text(yaml.safe_dump({k: v for k, v in raw.items() if v is not None}))
    return load_space(path)


PLANS = [
    (
        "nothing given: the space's, then the runner's defaults",
        {},
        {},
        dict(
            study_name="tiny",
            storage_url=default_storage_url(),
            trials=4,
            timeout=None,
            device=None,
            seed=0,
            heartbeat=HEARTBEAT_SECONDS,
            grace=GRACE_SECONDS,
            artifacts=DEFAULT_ARTIFACTS,
            image_size=16,
        ),
    ),
    (
        "the space's timeout, and no trials anywhere",
        {"timeout": 600, "trials": None},
        {},
        dict(trials=DEFAULT_TRIALS, timeout=600.0),
    ),
    (
        "every flag over the space",
        {"timeout": 600},
        dict(
            study_name="other",
            storage="sqlite:///x.db",
            trials=7,
            timeout=90.5,
            device="cuda:1",
            seed=3,
            artifacts=Path("arts"),
        ),
        dict(
            study_name="other",
            storage_url="sqlite:///x.db",
            trials=7,
            timeout=90.5,
            device="cuda:1",
            seed=3,
            artifacts=Path("arts"),
        ),
    ),
    (
        "a slow heartbeat stretches the default grace",
        {},
        {"heartbeat": 20},
        dict(heartbeat=20, grace=60),
    ),
]


@pytest.mark.parametrize(
    ("top", "given", "expected"), [p[1:] for p in PLANS], ids=[p[0] for p in PLANS]
)
def test_the_plan_takes_the_flag_else_the_space_else_the_default(tmp_path, top, given, expected):
    space = tiny_space(tmp_path, **top)
    plan = plan_run(RunOptions(space=space.source, **given), space)
    assert {key: getattr(plan, key) for key in expected} == expected
    assert plan.space is space


def test_the_plan_names_the_data_the_flags_give_with_the_space_settings(tmp_path):
    space = tiny_space(tmp_path, data={"manifest": "theirs.jsonl", "val_frac": 0.2})
    plan = plan_run(RunOptions(space=space.source, data=Path("mine.jsonl")), space)
    assert (plan.data.manifest, plan.data.val_frac) == ("mine.jsonl", 0.2)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"heartbeat": 10, "grace": 20}, "--grace 20 is shorter than 3 heartbeats"),
        ({"heartbeat": 0}, "--heartbeat 0: expected seconds > 0"),
        ({"train": Path("a.jsonl")}, "--train and --val go together"),
    ],
)
def test_bad_flags_fail_when_planned(tmp_path, given, message):
    space = tiny_space(tmp_path)
    with pytest.raises(UserError, match=message):
        plan_run(RunOptions(space=space.source, **given), space)
