"""The report's inputs, read from storage once: the trials frame, the study record, and the val
predictions of the trials the page compares image by image."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import optuna
from optuna.storages import BaseStorage

from study import predictions, records
from study.ablate.runs import designs, linked_name, observed
from study.analysis.inputs import AblationRuns, Predictions, ReportInputs, prediction_trials
from study.audit.load import load_audit
from study.confirm.load import load_confirm
from study.frame import trials_frame
from vitlab.errors import UserError

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export


def load_inputs(
    study: optuna.Study,
    store: ArtifactStore | None,
    *,
    group_by: str | None = None,
    err: TextIO | None = None,
    storage: BaseStorage | None = None,
) -> ReportInputs:
    """Everything the sections read. A predictions file that cannot be read leaves its trial
    without predictions (one warning line); the page then says what it cannot compare."""
    frame = trials_frame(study)
    record = records.StudyRecord.from_study(study)
    found: dict[int, Predictions] = {}
    if store is not None:
        ids = dict(zip(frame["number"], _artifact_ids(study), strict=True))
        for number in prediction_trials(frame):
            artifact_id = ids.get(number)
            if artifact_id is None:
                continue
            try:
                found[number] = Predictions.from_array(predictions.download(store, artifact_id))
            except Exception as e:  # a deleted or foreign file: say so, report the rest
                print(
                    f"warning: trial {number}: val predictions not read ({type(e).__name__}: "
                    f"{e}); comparisons with it are left out",
                    file=err or sys.stderr,
                )
    groups = class_groups(record, group_by) if group_by else {}
    name = study.study_name
    linked = storage is not None  # the reruns of the study live in linked studies beside it
    return ReportInputs(
        study_name=name,
        frame=frame,
        study=record,
        predictions=found,
        group_by=group_by,
        class_groups=groups,
        ablation=load_ablation(name, storage) if linked else None,
        confirm=load_confirm(name, storage, store, err=err) if linked else None,
        audit=load_audit(name, storage) if linked else None,
    )


def load_ablation(study_name: str, storage: BaseStorage) -> AblationRuns | None:
    """The linked study's designs and finished runs (None: no ablation of this study)."""
    name = linked_name(study_name)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    linked = optuna.load_study(study_name=name, storage=storage)
    return AblationRuns(designs=tuple(designs(linked)), values=observed(linked))


def _artifact_ids(study: optuna.Study) -> list[str | None]:
    return [t.user_attrs.get(records.PREDICTIONS) for t in study.get_trials(deepcopy=False)]


def class_groups(record: records.StudyRecord, field: str) -> dict[str, str]:
    """Class name -> its value of manifest field ``field`` (``genus``, ``family``...), from the
    split files; a class whose images disagree gets its most common value."""
    from vitlab.manifest import read_manifest  # the data layer, only for --group-by

    # Not the test split's file: only ``confirm`` reads it, and every class has train images.
    files = [Path(p) for part, p in record.split_files.items() if part != "test"]
    if not files:
        raise UserError(
            f"--group-by {field}: the study records no split files (it was run before "
            "reports could group classes)"
        )
    votes: dict[str, Counter[str]] = {}
    for path in files:
        if not path.is_file():
            raise UserError(f"--group-by {field}: split file {path} not found")
        manifest = read_manifest(path, check_files=False)  # the labels, not the images
        for rec in manifest.records:
            value = rec.extra.get(field)
            if value is not None:
                votes.setdefault(rec.label, Counter())[str(value)] += 1
    if not votes:
        raise UserError(f"--group-by {field}: no image in {files[0]} has a field {field!r}")
    return {label: counts.most_common(1)[0][0] for label, counts in votes.items()}
