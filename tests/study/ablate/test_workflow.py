"""The workflow's next step, from the linked studies a storage already holds."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from study.ablate.workflow import next_step
from study.storage import DEFAULT_ARTIFACTS


@pytest.mark.parametrize(
    ("linked", "expected"),
    [
        ((), "python -m study ablate --study s"),
        ((":ablate",), "python -m study confirm --study s"),
        ((":ablate", ":confirm"), "python -m study audit-pruner --study s"),
        ((":ablate", ":confirm", ":audit"), None),
        # a confirmation run before any ablation: the ablation is still the next step
        ((":confirm",), "python -m study ablate --study s"),
    ],
)
def test_next_step(tmp_path: Path, linked: tuple[str, ...], expected: str | None) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    for suffix in linked:
        optuna.create_study(study_name=f"s{suffix}", storage=url)
    step = next_step(study, study._storage, url, DEFAULT_ARTIFACTS)
    assert (step if step is None else step.split(" --storage")[0]) == expected
