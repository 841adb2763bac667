"""The shell commands ``run`` prints: the run itself (to resume it), the dashboard that watches
it, and Optuna's views of a study.

Every word is shell-quoted, so a study name or a path with spaces or quotes pastes as it is.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from study.storage import DEFAULT_ARTIFACTS, default_storage_url

if TYPE_CHECKING:
    from study.ablate.command import AblateOptions
    from study.run.plan import RunOptions


def run_command(opts: RunOptions, study_name: str, url: str) -> str:
    """``python -m study run`` with every option of ``opts``: run again, it continues the study."""
    args = ["python", "-m", "study", "run", "--space", str(opts.space)]
    args += ["--study", study_name, "--storage", url]
    if opts.data is not None:
        args += ["--data", str(opts.data)]
    for flag, path in (("--train", opts.train), ("--val", opts.val), ("--test", opts.test)):
        if path is not None:
            args += [flag, str(path)]
    options = (
        ("--trials", opts.trials),
        ("--timeout", opts.timeout),
        ("--device", opts.device),
        ("--heartbeat", opts.heartbeat),
        ("--grace", opts.grace),
    )
    args += [word for flag, value in options if value is not None for word in (flag, str(value))]
    args += ["--seed", str(opts.seed)]  # always: a study continues with its own seed only
    if opts.artifacts != DEFAULT_ARTIFACTS:
        args += ["--artifacts", str(opts.artifacts)]
    return shlex.join(args)


def optuna_command(command: str, study_name: str, url: str) -> str:
    """Optuna's own CLI on the study: ``optuna trials ...``, ``optuna best-trial ...``."""
    return shlex.join(["optuna", command, "--study-name", study_name, "--storage", url])


def dashboard_command(url: str, artifacts: Path = DEFAULT_ARTIFACTS) -> str:
    """The command that watches a study, as ``run`` prints it at the end."""
    args = ["python", "-m", "study", "dashboard"]
    if url != default_storage_url():
        args += ["--storage", url]
    if artifacts != DEFAULT_ARTIFACTS:
        args += ["--artifacts", str(artifacts)]
    return shlex.join(args)


def report_command(study_name: str, url: str, artifacts: Path = DEFAULT_ARTIFACTS) -> str:
    """The command that (re)builds a study's report."""
    args = ["python", "-m", "study", "report", "--study", study_name]
    if url != default_storage_url():
        args += ["--storage", url]
    if artifacts != DEFAULT_ARTIFACTS:
        args += ["--artifacts", str(artifacts)]
    return shlex.join(args)


def ablate_command(opts: AblateOptions, study_name: str, url: str) -> str:
    """The command that runs (or resumes) the ablation ``opts`` asks for: only the options
    that differ from their defaults."""
    from study.ablate.command import AblateOptions

    default = AblateOptions()
    args = ["python", "-m", "study", "ablate", "--study", study_name]
    if url != default_storage_url():
        args += ["--storage", url]
    flags = (("--to", "to"), ("--design", "design"), ("--seeds", "seeds"), ("--epochs", "epochs"))
    flags += (("--device", "device"), ("--artifacts", "artifacts"))
    for flag, field in flags:
        value = getattr(opts, field)
        if value is not None and value != getattr(default, field):
            args += [flag, str(value)]
    return shlex.join(args)


def rerun_command(
    command: str,
    study_name: str,
    url: str,
    options: tuple[tuple[str, object, object], ...] = (),
) -> str:
    """``python -m study confirm`` / ``audit-pruner`` on a study: each (flag, value, default)
    of ``options`` only where the value is not its default."""
    args = ["python", "-m", "study", command, "--study", study_name]
    if url != default_storage_url():
        args += ["--storage", url]
    for flag, value, default in options:
        if value is not None and value != default:
            args += [flag, str(value)]
    return shlex.join(args)
