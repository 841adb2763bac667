"""What optuna-dashboard shows beside Optuna's own plots: notes and a curves file per trial.

Pure functions turn user attrs into Markdown (``trial_note``, ``study_note``) and curves into plain
data (``curves_info``), a plotly figure (``curves_figure``) and the trial's page (``curves_page``).
The writers are best-effort: a note or an artifact that cannot be written is recorded in the
trial's ``artifact_error`` user attr and printed, and never fails the trial.

plotly.js (about 4.8 MB) is one study artifact, uploaded once per study and plotly.js version
(``plotlyjs_src``); each trial's ``curves.html`` (tens of KB) loads it from the dashboard's
``/artifacts/<study_id>/<artifact_id>`` and carries its numbers as a table too, readable on its own.
"""

from __future__ import annotations

import html
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import optuna
import plotly.graph_objects as go
from optuna.artifacts import upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import BaseStorage
from optuna_dashboard import get_note, save_note
from plotly.offline import get_plotlyjs, get_plotlyjs_version
from plotly.subplots import make_subplots
from sqlalchemy.engine import make_url

from study.progress import format_duration
from study.pruning import PRUNE_REASON_ATTR

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export

ARTIFACT_ERROR_ATTR = "artifact_error"
CURVES_FILE = "curves.html"
NOTE_WRITTEN_ATTR = "study:note_written"  # study system attr: the study note `run` last wrote
# Study user attr {"id": artifact id, "version": plotly.js version}: the study's plotly.js file.
PLOTLYJS_ATTR = "plotlyjs_artifact"
OPTUNA_ARTIFACT_PREFIX = "artifacts:"  # Optuna's study system attr per study artifact: its meta
MISSING = "n/a"

# (panel title, y axis as a percentage, ((curve key, legend name, line style), ...))
PANELS: tuple[tuple[str, bool, tuple[tuple[str, str, dict[str, Any]], ...]], ...] = (
    (
        "top-1 accuracy",
        True,
        (
            ("train_top1", "train top-1 (un-augmented subset)", {"color": "#1f77b4"}),
            ("val_top1", "val top-1", {"color": "#ff7f0e"}),
        ),
    ),
    (
        "loss",
        False,
        (
            ("train_loss", "train loss (augmented batches)", {"color": "#1f77b4"}),
            (
                "train_probe_loss",
                "train loss (plain cross-entropy)",
                {"color": "#1f77b4", "dash": "dash"},
            ),
            ("val_loss", "val loss", {"color": "#ff7f0e"}),
        ),
    ),
)
STYLES = {key: style for _, _, series in PANELS for key, _, style in series}


def _pct(value: Any) -> str:
    return MISSING if value is None else f"{value:.1%}"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def trial_note(attrs: dict[str, Any]) -> str:
    """The Markdown note of one trial, from its user attrs: outcome first, then the numbers."""
    run, planned = attrs.get("epochs_run"), attrs.get("epochs_planned")
    reason = attrs.get(PRUNE_REASON_ATTR)
    if reason and attrs.get("stopped_early"):
        outcome = f"**Stopped early** at epoch {run}: {reason}. Scored at its best epoch."
    elif reason:
        outcome = f"**Pruned** at epoch {run}: {reason}."
    elif run is None:
        outcome = f"**No epoch finished** ({planned} planned)."
    else:
        outcome = f"**Ran {run} of {planned} epochs.**"
    if attrs.get("baseline"):
        outcome += " Baseline: the seed's recipe."
    gap, params, seconds = attrs.get("best_gap"), attrs.get("num_params"), attrs.get("seconds")
    rows = [
        ("best epoch", attrs.get("best_epoch", MISSING)),
        ("best val top-1", _pct(attrs.get("best_val_top1"))),
        ("train top-1 at that epoch", _pct(attrs.get("best_train_top1"))),
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


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def curves_info(curves: dict[str, Sequence[float]]) -> dict[str, Any]:
    """The per-epoch curves to draw, as plain data: epochs, panels of named series, best epoch.

    Non-finite values (a NaN loss) become None, a gap in the line. The best epoch follows the
    engine's rule: highest val top-1, ties to the lower val loss.
    """
    n = max((len(v) for v in curves.values()), default=0)
    epochs = [int(e) for e in curves.get("epoch", range(1, n + 1))]
    panels = []
    for title, percent, series in PANELS:
        lines = [
            {"key": key, "name": label, "values": [_finite(float(v)) for v in curves[key]]}
            for key, label, _ in series
            if curves.get(key)
        ]
        if lines:
            panels.append({"title": title, "percent": percent, "series": lines})
    val = curves.get("val_top1") or []
    loss = curves.get("val_loss") or [0.0] * len(val)
    scored = [
        (float(v), -float(lo), e)
        for e, v, lo in zip(epochs, val, loss, strict=False)
        if math.isfinite(v)
    ]
    best_epoch = max(scored, key=lambda s: (s[0], s[1]))[2] if scored else None
    return {"epochs": epochs, "panels": panels, "best_epoch": best_epoch}


def curves_figure(info: dict[str, Any], title: str = "") -> go.Figure:
    """One subplot per panel of ``curves_info``, the best epoch marked by a dotted line."""
    panels = info["panels"]
    fig = make_subplots(
        rows=1, cols=max(1, len(panels)), subplot_titles=[p["title"] for p in panels]
    )
    dtick = 1 if len(info["epochs"]) <= 20 else None  # whole epochs; plotly's ticks beyond
    for col, panel in enumerate(panels, start=1):
        for s in panel["series"]:
            fig.add_trace(
                go.Scatter(
                    x=info["epochs"],
                    y=s["values"],
                    name=s["name"],
                    mode="lines+markers",
                    line=STYLES[s["key"]],
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", dtick=dtick, row=1, col=col)
        if panel["percent"]:
            fig.update_yaxes(tickformat=".0%", row=1, col=col)
        if info["best_epoch"] is not None:
            fig.add_vline(
                x=info["best_epoch"],
                line_dash="dot",
                line_color="gray",
                annotation_text="best epoch" if col == 1 else None,
                row=1,
                col=col,
            )
    fig.update_layout(
        title=title or None,
        template="plotly_white",
        height=420,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


# (table heading, curve key, format): the numbers of the page, one row per epoch.
TABLE: tuple[tuple[str, str, str], ...] = (
    ("train top-1", "train_top1", "pct"),
    ("val top-1", "val_top1", "pct"),
    ("train loss (augmented)", "train_loss", "loss"),
    ("train loss (plain CE)", "train_probe_loss", "loss"),
    ("val loss", "val_loss", "loss"),
    ("gap (train − val top-1, trained classes)", "gap", "gap"),
)
PAGE_STYLE = (
    "body{font-family:sans-serif;margin:1em}"
    "p.note{color:#555;font-size:90%}"
    "table{border-collapse:collapse;font-size:90%}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "tr.best{font-weight:bold}"
)


def _cell(value: Any, kind: str) -> str:
    if value is None or not math.isfinite(float(value)):
        return MISSING
    if kind == "pct":
        return f"{value:.1%}"
    return f"{value:+.3f}" if kind == "gap" else f"{value:.3f}"


def curves_page(curves: dict[str, Sequence[float]], *, title: str, plotlyjs_src: str) -> str:
    """The trial's ``curves.html``: the plot, drawn by the plotly.js at ``plotlyjs_src``, then
    the same numbers as a table, so the file still reads on its own (where the plot cannot draw).
    """
    info = curves_info(curves)
    plot = curves_figure(info, title=title).to_html(
        include_plotlyjs=False, full_html=False, div_id="curves"
    )
    columns = [(head, key, kind) for head, key, kind in TABLE if curves.get(key)]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["epoch", *(c[0] for c in columns)])
    rows = []
    for i, epoch in enumerate(info["epochs"]):
        best = epoch == info["best_epoch"]
        cells = [f"{epoch} (best)" if best else str(epoch)]
        for _, key, kind in columns:
            values = curves[key]
            cells.append(_cell(values[i] if i < len(values) else None, kind))
        tr = '<tr class="best">' if best else "<tr>"
        rows.append(tr + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    name = html.escape(title or "curves")
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{name}: train/val curves</title>",
            f"<style>{PAGE_STYLE}</style>",
            f'<script src="{html.escape(plotlyjs_src)}"></script>',
            "</head>",
            "<body>",
            '<p class="note">The plot needs optuna-dashboard (<code>python -m study '
            "dashboard</code>), which serves its plotly.js; opened on its own, this page shows "
            "only the table below.</p>",
            plot,
            f"<h3>{name}: per epoch</h3>",
            f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>",
            "</body>",
            "</html>",
        ]
    )


def study_artifacts(storage: BaseStorage, study_id: int) -> dict[str, dict[str, Any]]:
    """The study's artifacts (not its trials'), by id; one the dashboard deleted is left out."""
    metas = {}
    for key, value in storage.get_study_system_attrs(study_id).items():
        if key.startswith(OPTUNA_ARTIFACT_PREFIX):
            meta = json.loads(value)
            if meta is not None:  # optuna-dashboard nulls the meta of an artifact it deletes
                metas[meta["artifact_id"]] = meta
    return metas


def _stored(store: ArtifactStore, artifact_id: str) -> bool:
    try:
        store.open_reader(artifact_id).close()
    except ArtifactNotFound:
        return False
    return True


def plotlyjs_src(study: optuna.Study, storage: BaseStorage, store: ArtifactStore) -> str:
    """The dashboard's URL path of the study's plotly.js, uploaded first if the study has none.

    The study user attr ``plotlyjs_artifact`` names it: recorded only once its file is written,
    it is trusted while its version matches and the dashboard has not deleted it. Else a stored
    one of this version is looked up by its file name (a worker of another plotly version may
    have taken the attr), and only then is one uploaded. Workers racing on a new study may each
    upload one: harmless, they are all the same file.
    """
    version = get_plotlyjs_version()
    filename = f"plotly-{version}.min.js"
    study_id = storage.get_study_id_from_name(study.study_name)
    live = study_artifacts(storage, study_id)
    record = study.user_attrs.get(PLOTLYJS_ATTR) or {}
    artifact_id = record.get("id")
    if record.get("version") != version or artifact_id not in live:
        same = [i for i, m in live.items() if m.get("filename") == filename]
        # The meta is written before the file: one whose upload failed has no file.
        artifact_id = next((i for i in same if _stored(store, i)), None)
        if artifact_id is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / filename
                path.write_text(get_plotlyjs(), encoding="utf-8")
                artifact_id = upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=study,
                    mimetype="text/javascript",
                )
        study.set_user_attr(PLOTLYJS_ATTR, {"id": artifact_id, "version": version})
    return f"/artifacts/{study_id}/{artifact_id}"


def write_trial_view(
    trial: optuna.Trial, store: ArtifactStore | None, err: TextIO | None = None
) -> None:
    """The trial's note, and its curves as an HTML artifact (best-effort)."""
    attrs = trial.user_attrs
    errors = []
    try:
        save_note(trial, trial_note(attrs))
    except Exception as e:  # best-effort: the dashboard view must never fail the trial
        errors.append(f"note: {type(e).__name__}: {e}")
    if store is not None and attrs.get("curves"):
        try:
            title = f"trial {trial.number}" + (" (baseline)" if attrs.get("baseline") else "")
            src = plotlyjs_src(trial.study, trial.storage, store)
            page = curves_page(attrs["curves"], title=title, plotlyjs_src=src)
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
        trial.set_user_attr(ARTIFACT_ERROR_ATTR, message)


def write_study_note(study: optuna.Study, storage: BaseStorage, body: str) -> None:
    """Write the study note unless a person has edited the one ``run`` wrote last time."""
    study_id = storage.get_study_id_from_name(study.study_name)
    last = storage.get_study_system_attrs(study_id).get(NOTE_WRITTEN_ATTR)
    current = get_note(study)
    if current == body or (current and current != last):
        return
    save_note(study, body)
    storage.set_study_system_attr(study_id, NOTE_WRITTEN_ATTR, body)
