"""Write the report: the HTML file, the study artifact that replaces the previous one (so that
a remote dashboard serves it), and the study note's link to it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import optuna
from optuna.artifacts import upload_artifact
from optuna.storages import BaseStorage

from study import records
from study.dashboard.artifacts import OPTUNA_ARTIFACT_PREFIX, study_artifacts
from study.dashboard.notes import study_note, write_study_note
from study.report.load import load_inputs
from study.report.page import Section, build_page
from study.storage import DEFAULT_ARTIFACTS

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export

REPORTS = Path("reports")


def default_report_path(study_name: str) -> Path:
    """reports/<study>.html (a name with a path separator keeps only its last part)."""
    return REPORTS / f"{Path(study_name).name or 'study'}.html"


def note_line(path: Path) -> str:
    """The study note's line for the report at ``path`` (also its study artifact)."""
    return f"{path} (also the study artifact {path.name})"


def write_report(
    study: optuna.Study,
    storage: BaseStorage,
    store: ArtifactStore | None,
    path: Path,
    *,
    sections: Sequence[Section] | None = None,
    group_by: str | None = None,
    storage_url: str | None = None,
    artifacts: Path = DEFAULT_ARTIFACTS,
    out: TextIO | None = None,
) -> Path:
    """Build the report of ``study``'s finished trials into ``path``; returns ``path``.

    The file is written whole or not at all (a temporary file, then a rename), so Ctrl-C or a
    crash never leaves half a page where the last good one was.
    """
    if sections is None:
        from study.report.sections import SECTIONS

        sections = SECTIONS
    print(f"report: reading study {study.study_name!r}...", file=out or sys.stdout, flush=True)
    inputs = load_inputs(study, store, group_by=group_by, storage=storage)
    page = build_page(inputs, sections, out=out or sys.stdout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
    ) as f:
        f.write(page)
    os.replace(f.name, path)
    if store is not None:
        try:
            replace_report_artifact(study, storage, store, path)
        except Exception as e:  # best-effort: the file on disk is the report
            print(
                f"warning: report artifact not uploaded: {type(e).__name__}: {e}", file=sys.stderr
            )
    if storage_url is not None:
        _link_in_note(study, storage, storage_url, artifacts, path)
    return path


def replace_report_artifact(
    study: optuna.Study, storage: BaseStorage, store: ArtifactStore, path: Path
) -> str:
    """Upload ``path`` as the study's report artifact, removing the previous one the way
    optuna-dashboard deletes an artifact (its file, then its meta nulled); returns the id."""
    study_id = storage.get_study_id_from_name(study.study_name)
    old = study.user_attrs.get(records.REPORT)
    artifact_id = upload_artifact(
        artifact_store=store, file_path=str(path), study_or_trial=study, mimetype="text/html"
    )
    study.set_user_attr(records.REPORT, artifact_id)
    if old and old in study_artifacts(storage, study_id):
        try:
            store.remove(old)
        except Exception:  # already gone: the meta is what the dashboard lists
            pass
        storage.set_study_system_attr(study_id, OPTUNA_ARTIFACT_PREFIX + old, json.dumps(None))
    return artifact_id


def _link_in_note(
    study: optuna.Study, storage: BaseStorage, url: str, artifacts: Path, path: Path
) -> None:
    """The study note, rewritten with the report's path (unless a person edited it)."""
    record = records.StudyRecord.from_study(study)
    if record.dataset_fingerprint is None:
        return  # no worker recorded the study: there is no note to rewrite
    body = study_note(
        name=study.study_name,
        space=str(record.space.get("source", "?")),
        source=record.data_source or "?",
        storage=url,
        summary=dict(record.split_summary),
        artifacts=str(artifacts),
        report=note_line(path),
    )
    write_study_note(study, storage, body)


def report_study(
    study_name: str | None = None,
    *,
    storage_url: str | None = None,
    path: Path | None = None,
    group_by: str | None = None,
    artifacts: Path = DEFAULT_ARTIFACTS,
    out: TextIO | None = None,
) -> Path:
    """``python -m study report``: the report of a study on an existing storage (running or
    not); with no name, the storage's only study."""
    from optuna.artifacts import FileSystemArtifactStore

    from study.ablate.workflow import next_step
    from study.dashboard.server import check_storage_url
    from study.storage import default_storage_url, open_storage, pick_study

    url = storage_url or default_storage_url()
    check_storage_url(url)
    storage = open_storage(url, heartbeat=False)
    study_name = pick_study(storage, study_name, url)
    study = optuna.load_study(study_name=study_name, storage=storage)
    store = FileSystemArtifactStore(artifacts.resolve()) if artifacts.is_dir() else None
    if store is None:
        print(
            f"warning: no artifact folder {artifacts}: no val predictions, so no paired "
            "comparison (pass --artifacts)",
            file=sys.stderr,
        )
    path = write_report(
        study,
        storage,
        store,
        path or default_report_path(study_name),
        group_by=group_by,
        storage_url=url,
        artifacts=artifacts,
        out=out,
    )
    print(f"report: {path}", file=out or sys.stdout)
    step = next_step(study, storage, url, artifacts)
    if step is not None:
        print(f"next: {step}", file=out or sys.stdout)
    return path
