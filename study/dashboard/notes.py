"""What optuna-dashboard shows beside Optuna's own plots: a note per trial and per study, and
each trial's curves page uploaded as an artifact.

Pure functions turn user attrs into Markdown (``trial_note``, ``study_note``). The writers are
best-effort: a note or an artifact that cannot be written is recorded in the trial's
``artifact_error`` user attr and printed, and never fails the trial.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import optuna
from optuna.artifacts import upload_artifact
from optuna.storages import BaseStorage
from optuna_dashboard import get_note, save_note
from sqlalchemy.engine import make_url

from study import records
from study.dashboard.artifacts import plotlyjs_src
from study.dashboard.curves import CURVES_FILE, MISSING, curves_page

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export


def _pct(value: Any) -> str:
    return MISSING if value is None else f"{value:.1%}"


def format_duration(seconds: float) -> str:
    """Whole seconds as ``42s`` or ``3m07s`` (a note's time, the progress line's ETA)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def trial_note(record: records.TrialRecord) -> str:
    """The Markdown note of one trial, from its record: outcome first, then the numbers."""
    run, planned, reason = record.epochs_run, record.epochs_planned, record.prune_reason
    if reason and record.stopped_early:
        outcome = f"**Stopped early** at epoch {run}: {reason}. Scored at its best epoch."
    elif reason:
        outcome = f"**Pruned** at epoch {run}: {reason}."
    elif run is None:
        outcome = f"**No epoch finished** ({planned} planned)."
    else:
        outcome = f"**Ran {run} of {planned} epochs.**"
    if record.baseline:
        outcome += " Baseline: the seed's recipe."
    best, params, seconds = record.best, record.num_params, record.seconds
    gap = best.get(records.GAP)
    rows = [
        ("best epoch", MISSING if record.best_epoch is None else record.best_epoch),
        ("best val top-1", _pct(best.get(records.VAL_TOP1))),
        ("train top-1 at that epoch", _pct(best.get(records.TRAIN_TOP1))),
        ("gap (train − val top-1, trained classes)", MISSING if gap is None else f"{gap:+.3f}"),
        ("parameters", MISSING if params is None else f"{params:,}"),
        ("epochs run / planned", f"{run if run is not None else MISSING} / {planned}"),
        ("time", MISSING if seconds is None else _duration(seconds)),
    ]
    return "\n".join([outcome, "", *(f"- {name}: {value}" for name, value in rows)]) + "\n"


def study_note(
    *,
    name: str,
    space: str,
    source: str,
    storage: str,
    summary: dict[str, Any],
    artifacts: str,
    report: str | None,
) -> str:
    """The Markdown note of a study: how it was run and where its results live.

    The storage URL is shown without its password: the note lives in that database.
    """
    n = summary.get("images_per_split", {})
    split = (
        f"{summary.get('images', 0):,} images of {summary.get('classes', 0):,} classes: "
        f"{n.get('train', 0):,} train / {n.get('val', 0):,} val / {n.get('test', 0):,} test "
        "(test never read); "
        f"{summary.get('classes_with_1_image', 0):,} classes with one image, "
        f"{summary.get('classes_only_in_val', 0):,} only in val"
    )
    report_line = f"`{report}`" if report else "no HTML report was generated for this study yet"
    return (
        "\n".join(
            [
                f"## Study {name}",
                "",
                f"- search space: `{space}`",
                f"- data: `{source}`",
                f"- split: {split}",
                f"- storage: `{make_url(storage).render_as_string(hide_password=True)}`",
                f"- per-trial curves (HTML artifacts): `{artifacts}`",
                f"- report: {report_line}",
                "",
                "Each trial's note gives its outcome (pruned, stopped early or completed) and "
                "its best epoch; its artifact `curves.html` draws train/val top-1 and loss per "
                "epoch with the study's artifact `plotly-<version>.min.js`: deleting that one "
                "leaves every curves page with its table only.",
            ]
        )
        + "\n"
    )


def write_trial_view(
    trial: optuna.Trial, store: ArtifactStore | None, err: TextIO | None = None
) -> None:
    """The trial's note, and its curves as an HTML artifact (best-effort)."""
    record = records.TrialRecord.from_attrs(trial.user_attrs, number=trial.number)
    errors = []
    try:
        save_note(trial, trial_note(record))
    except Exception as e:  # best-effort: the dashboard view must never fail the trial
        errors.append(f"note: {type(e).__name__}: {e}")
    if store is not None and record.curves:
        try:
            title = f"trial {trial.number}" + (" (baseline)" if record.baseline else "")
            src = plotlyjs_src(trial.study, trial.storage, store)
            page = curves_page(record.curves, title=title, plotlyjs_src=src)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / CURVES_FILE
                path.write_text(page, encoding="utf-8")
                upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
        except Exception as e:  # best-effort, as above
            errors.append(f"curves artifact: {type(e).__name__}: {e}")
    if errors:
        message = "; ".join(errors)
        print(
            f"warning: trial {trial.number}: dashboard view not written: {message}",
            file=err or sys.stderr,
        )
        records.add_artifact_error(trial, message)


def write_study_note(study: optuna.Study, storage: BaseStorage, body: str) -> None:
    """Write the study note unless a person has edited the one ``run`` wrote last time."""
    study_id = storage.get_study_id_from_name(study.study_name)
    last = storage.get_study_system_attrs(study_id).get(records.NOTE_WRITTEN)
    current = get_note(study)
    if current == body or (current and current != last):
        return
    save_note(study, body)
    storage.set_study_system_attr(study_id, records.NOTE_WRITTEN, body)
