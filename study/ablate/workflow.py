"""The workflow's next step: ``run`` -> ``report`` -> ``ablate`` -> ``confirm`` ->
``audit-pruner``; each command prints the next one, and ``report`` the first not run yet."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import BaseStorage

from study.ablate.command import next_command
from study.ablate.runs import linked_name
from study.commands import rerun_command
from study.space.load import space_from_dict

__all__ = ["next_step"]


def next_step(study: optuna.Study, storage: BaseStorage, url: str, artifacts: Path) -> str | None:
    """The first rerun command the study has no linked study of yet (None: all have run)."""
    names = {s.study_name for s in storage.get_all_studies()}
    if linked_name(study.study_name, ":ablate") not in names:
        space = study.user_attrs.get("space")
        if space:
            return next_command(study, space_from_dict(space), url, artifacts)
        return rerun_command("ablate", study.study_name, url)
    for suffix, command in (":confirm", "confirm"), (":audit", "audit-pruner"):
        if linked_name(study.study_name, suffix) not in names:
            return rerun_command(command, study.study_name, url)
    return None
