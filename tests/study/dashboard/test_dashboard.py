"""`python -m study dashboard` and what it shows: notes, curves files, its HTTP API, a browser."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from plotly.offline import get_plotlyjs_version

from study import records
from study.commands import dashboard_command
from study.dashboard.artifacts import PLOTLYJS_ATTR, plotlyjs_src, study_artifacts
from study.dashboard.curves import CurvesInfo, curves_figure, curves_info, curves_page
from study.dashboard.notes import study_note, trial_note
from study.dashboard.server import check_storage_url, is_loopback, open_dashboard
from study.run.objective import Objective
from study.run.runner import RunOptions, run_study
from tests.helpers import CHROMIUM, require_chromium, start
from tests.study.helpers import storage_url, write_space
from vitlab.errors import UserError

PLOTLYJS_FILE = f"plotly-{get_plotlyjs_version()}.min.js"

# ---------------------------------------------------------------------------- pure functions

BASE = {
    "epochs_run": 4,
    "epochs_planned": 4,
    "best_epoch": 3,
    "best": {records.VAL_TOP1: 0.4125, records.TRAIN_TOP1: 0.6, records.GAP: 0.1875},
    "num_params": 1234567,
    "seconds": 75.4,
}
NUMBERS = (
    "- best epoch: 3\n"
    "- best val top-1: 41.2%\n"
    "- train top-1 at that epoch: 60.0%\n"
    "- gap (train − val top-1, trained classes): +0.188\n"
    "- parameters: 1,234,567\n"
)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "**Ran 4 of 4 epochs.**\n\n" + NUMBERS + "- epochs run / planned: 4 / 4\n"),
        (
            {"baseline": True},
            "**Ran 4 of 4 epochs.** Baseline: the seed's recipe.\n\n"
            + NUMBERS
            + "- epochs run / planned: 4 / 4\n",
        ),
        (
            {"epochs_run": 3, "prune_reason": "below the median at epoch 3"},
            "**Pruned** at epoch 3: below the median at epoch 3.\n\n"
            + NUMBERS
            + "- epochs run / planned: 3 / 4\n",
        ),
        (
            {"epochs_run": 3, "prune_reason": "overfitting: gap 0.31", "stopped_early": True},
            "**Stopped early** at epoch 3: overfitting: gap 0.31. Scored at its best epoch.\n\n"
            + NUMBERS
            + "- epochs run / planned: 3 / 4\n",
        ),
    ],
)
def test_trial_note(extra, expected):
    assert trial_note(records.TrialRecord(**{**BASE, **extra})) == expected + "- time: 1m15s\n"


def test_trial_note_of_a_trial_without_epochs():
    assert trial_note(records.TrialRecord(epochs_planned=5, seconds=2.46)) == (
        "**No epoch finished** (5 planned).\n\n"
        "- best epoch: n/a\n"
        "- best val top-1: n/a\n"
        "- train top-1 at that epoch: n/a\n"
        "- gap (train − val top-1, trained classes): n/a\n"
        "- parameters: n/a\n"
        "- epochs run / planned: n/a / 5\n"
        "- time: 2.5s\n"
    )


SUMMARY = {
    "classes": 24,
    "images": 190,
    "images_per_split": {"train": 150, "val": 25, "test": 15},
    "classes_with_1_image": 3,
    "classes_only_in_val": 0,
}


@pytest.mark.parametrize(
    ("storage", "shown", "report", "line"),
    [
        (
            "sqlite:///results/studies.db",
            "sqlite:///results/studies.db",
            None,
            "- report: no HTML report was generated for this study yet",
        ),
        (
            "postgresql://me:secret@db.lab/studies",
            "postgresql://me:***@db.lab/studies",  # the note lives in the database: no password
            "reports/tiny.html",
            "- report: `reports/tiny.html`",
        ),
    ],
)
def test_study_note(storage, shown, report, line):
    note = study_note(
        name="tiny",
        space="search_spaces/tiny.yaml",
        source="data/demo/manifest.jsonl",
        storage=storage,
        summary=SUMMARY,
        artifacts="results/artifacts",
        report=report,
    )
    assert note == (
        "## Study tiny\n"
        "\n"
        "- search space: `search_spaces/tiny.yaml`\n"
        "- data: `data/demo/manifest.jsonl`\n"
        "- split: 190 images of 24 classes: 150 train / 25 val / 15 test (test never read); "
        "3 classes with one image, 0 only in val\n"
        f"- storage: `{shown}`\n"
        "- per-trial curves (HTML artifacts): `results/artifacts`\n"
        f"{line}\n"
        "\n"
        "Each trial's note gives its outcome (pruned, stopped early or completed) and its best "
        "epoch; its artifact `curves.html` draws train/val top-1 and loss per epoch with the "
        "study's artifact `plotly-<version>.min.js`: deleting that one leaves every curves page "
        "with its table only.\n"
    )


TRAIN_TOP1 = "train top-1 (un-augmented subset)"


def series(key: str, name: str, values: list[Any]) -> dict[str, Any]:
    return {"key": key, "name": name, "values": values}


@pytest.mark.parametrize(
    ("curves", "expected"),
    [
        (
            {
                "epoch": [1, 2, 3],
                "train_top1": [0.2, 0.5, 0.7],
                "val_top1": [0.1, 0.3, 0.3],
                "train_loss": [3.0, 2.0, 1.5],
                "train_probe_loss": [2.9, 1.9, 1.2],
                "val_loss": [3.1, 2.6, 2.4],
                "lr": [1e-3, 5e-4, 0.0],
            },
            {
                "epochs": [1, 2, 3],
                "panels": [
                    {
                        "title": "top-1 accuracy",
                        "percent": True,
                        "series": [
                            series(
                                "train_top1", "train top-1 (un-augmented subset)", [0.2, 0.5, 0.7]
                            ),
                            series("val_top1", "val top-1", [0.1, 0.3, 0.3]),
                        ],
                    },
                    {
                        "title": "loss",
                        "percent": False,
                        "series": [
                            series("train_loss", "train loss (augmented batches)", [3.0, 2.0, 1.5]),
                            series(
                                "train_probe_loss",
                                "train loss (plain cross-entropy)",
                                [2.9, 1.9, 1.2],
                            ),
                            series("val_loss", "val loss", [3.1, 2.6, 2.4]),
                        ],
                    },
                ],
                "best_epoch": 3,  # a tie on val top-1 goes to the lower val loss
            },
        ),
        (
            {"val_top1": [0.1, 0.4], "val_loss": [math.nan, 2.0]},
            {
                "epochs": [1, 2],
                "panels": [
                    {
                        "title": "top-1 accuracy",
                        "percent": True,
                        "series": [series("val_top1", "val top-1", [0.1, 0.4])],
                    },
                    {
                        "title": "loss",
                        "percent": False,
                        "series": [series("val_loss", "val loss", [None, 2.0])],
                    },
                ],
                "best_epoch": 2,
            },
        ),
        ({"lr": [1e-3]}, {"epochs": [1], "panels": [], "best_epoch": None}),
        ({}, {"epochs": [], "panels": [], "best_epoch": None}),
    ],
    ids=["all", "nan-and-missing", "nothing-to-draw", "empty"],
)
def test_curves_info(curves, expected):
    assert curves_info(curves) == CurvesInfo(**expected)


def test_curves_figure_draws_each_series_and_marks_the_best_epoch():
    info = curves_info(
        {
            "epoch": [1, 2],
            "train_top1": [0.5, 0.8],
            "val_top1": [0.4, 0.3],
            "train_loss": [2.0, 1.0],
            "val_loss": [2.1, 2.5],
        }
    )
    fig = curves_figure(info, title="trial 3")
    assert [(t.name, t.xaxis, list(t.y)) for t in fig.data] == [
        ("train top-1 (un-augmented subset)", "x", [0.5, 0.8]),
        ("val top-1", "x", [0.4, 0.3]),
        ("train loss (augmented batches)", "x2", [2.0, 1.0]),
        ("val loss", "x2", [2.1, 2.5]),
    ]
    assert [s.x0 for s in fig.layout.shapes] == [1, 1]  # the best epoch, in both panels
    assert fig.layout.yaxis.tickformat == ".0%" and fig.layout.yaxis2.tickformat is None
    assert fig.layout.title.text == "trial 3"


def test_curves_page_loads_plotlyjs_from_the_dashboard_and_tables_the_numbers():
    curves = {
        "epoch": [1, 2],
        "train_top1": [0.5, 0.8],
        "val_top1": [0.4, 0.45],
        "train_loss": [2.0, math.nan],
        "val_loss": [2.1, 2.5],
        "gap": [0.1, 0.35],
    }
    page = curves_page(curves, title="trial 3 <b>", plotlyjs_src="/artifacts/7/ab-12")
    head, body = page.split("</head>")
    assert page.startswith("<!doctype html>") and '<meta charset="utf-8">' in head
    assert '<script src="/artifacts/7/ab-12"></script>' in head
    assert "The plot needs optuna-dashboard" in body and 'id="curves"' in body
    assert "Plotly.newPlot" in body and "plotly.js v" not in page  # drawn, but not embedded
    assert "<title>trial 3 &lt;b&gt;: train/val curves</title>" in head  # escaped
    table = body[body.index("<table>") : body.index("</table>")]
    assert table.splitlines()[1:] == [
        "<tr><th>epoch</th><th>train top-1</th><th>val top-1</th>"
        "<th>train loss (augmented)</th><th>val loss</th>"
        "<th>gap (train − val top-1, trained classes)</th></tr>",  # no plain-CE curve: no column
        "<tr><td>1</td><td>50.0%</td><td>40.0%</td><td>2.000</td><td>2.100</td>"
        "<td>+0.100</td></tr>",
        '<tr class="best"><td>2 (best)</td><td>80.0%</td><td>45.0%</td><td>n/a</td>'
        "<td>2.500</td><td>+0.350</td></tr>",
    ]
    assert len(page.encode()) < 20_000


@pytest.fixture
def memory_study(tmp_path) -> tuple[optuna.Study, Any, FileSystemArtifactStore]:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="s", storage=storage)
    (tmp_path / "store").mkdir()
    return study, storage, FileSystemArtifactStore(tmp_path / "store")


def plotlyjs_ids(study: optuna.Study, storage: Any) -> list[str]:
    study_id = storage.get_study_id_from_name(study.study_name)
    return [
        i for i, m in study_artifacts(storage, study_id).items() if m["filename"] == PLOTLYJS_FILE
    ]


def test_plotlyjs_is_uploaded_once_per_study(memory_study):
    study, storage, store = memory_study
    src = plotlyjs_src(study, storage, store)
    (artifact_id,) = plotlyjs_ids(study, storage)
    assert src == f"/artifacts/{study._study_id}/{artifact_id}"
    assert study.user_attrs[PLOTLYJS_ATTR] == {"id": artifact_id, "version": get_plotlyjs_version()}
    with store.open_reader(artifact_id) as f:
        assert f.read(40).startswith(b"/**\n* plotly.js v")
    assert plotlyjs_src(study, storage, store) == src  # reused, not uploaded again
    # The attr lost (or taken by a worker of another plotly version): the file found by name.
    study.set_user_attr(PLOTLYJS_ATTR, {"id": "0-0", "version": "0.0.1"})
    assert plotlyjs_src(study, storage, store) == src
    assert plotlyjs_ids(study, storage) == [artifact_id]
    meta = storage.get_study_system_attrs(study._study_id)[f"artifacts:{artifact_id}"]
    assert json.loads(meta)["mimetype"] == "text/javascript"


def test_plotlyjs_deleted_in_the_dashboard_or_never_written_is_uploaded_again(memory_study):
    study, storage, store = memory_study
    first = plotlyjs_src(study, storage, store).rsplit("/", 1)[1]
    # What the dashboard's delete button does: the file goes, the meta becomes null.
    store.remove(first)
    storage.set_study_system_attr(study._study_id, f"artifacts:{first}", json.dumps(None))
    second = plotlyjs_src(study, storage, store).rsplit("/", 1)[1]
    assert second != first and plotlyjs_ids(study, storage) == [second]
    # A meta whose file was never written (an upload that failed after Optuna wrote the meta)
    # is not reused.
    store.remove(second)
    study.set_user_attr(PLOTLYJS_ATTR, None)
    third = plotlyjs_src(study, storage, store).rsplit("/", 1)[1]
    assert third not in (first, second)
    with store.open_reader(third) as f:
        assert f.read(3) == b"/**"


@pytest.mark.parametrize(
    ("url", "artifacts", "command"),
    [
        ("sqlite:///results/studies.db", Path("results/artifacts"), "python -m study dashboard"),
        (
            "sqlite:///x.db",
            Path("out/a"),
            "python -m study dashboard --storage sqlite:///x.db --artifacts out/a",
        ),
        (
            "sqlite:///my studies/x.db",
            Path("it's here"),
            "python -m study dashboard --storage 'sqlite:///my studies/x.db' --artifacts "
            "'it'\"'\"'s here'",
        ),
    ],
)
def test_dashboard_command(url, artifacts, command):
    assert dashboard_command(url, artifacts) == command


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("gpu1", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not an SQLAlchemy URL"),
        ("sqlite://", "is an in-memory database"),
        ("sqlite:///:memory:", "is an in-memory database"),
        ("sqlite:///gone/studies.db", "no such file gone/studies.db"),
    ],
)
def test_check_storage_url_rejects(url, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        check_storage_url(url)
    assert not (tmp_path / "gone").exists()  # never creates an empty database


# ------------------------------------------------------------- a real study, served for real


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def get_json(url: str) -> Any:
    return json.loads(get(url)[2])


@pytest.fixture(scope="module")
def watched(tmp_path_factory, tiny_manifest) -> Iterator[dict[str, Any]]:
    """A 3-trial study (trial 1 pruned) run in a temporary folder, and its dashboard on a thread."""
    folder = tmp_path_factory.mktemp("watched")
    real = Objective._train

    def pruned_second(self, trial, config):
        value = real(self, trial, config)
        if trial.number != 1:
            return value
        trial.set_user_attr("prune_reason", "below the median (test)")
        raise optuna.TrialPruned("below the median (test)")

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setattr(Objective, "_train", pruned_second)
        space = write_space(folder, trials=3, epochs=2)
        url = storage_url(folder)
        study = run_study(
            RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w")
        )
        server = open_dashboard(url, port=0, artifacts=Path("results/artifacts"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    study_id = next(s["study_id"] for s in get_json(f"{base}/api/studies")["study_summaries"])
    try:
        yield {
            "folder": folder,
            "space": space,
            "url": url,
            "study": study,
            "base": base,
            "study_id": study_id,
            "detail": get_json(f"{base}/api/studies/{study_id}"),
        }
    finally:
        server.shutdown()
        server.server_close()


def curves_artifact(trial: dict[str, Any]) -> str:
    """The id of a trial's curves.html among its artifacts (its predictions file is another)."""
    (artifact,) = [a["artifact_id"] for a in trial["artifacts"] if a["filename"] == "curves.html"]
    return artifact


def test_the_api_lists_the_study(watched):
    summaries = get_json(f"{watched['base']}/api/studies")["study_summaries"]
    assert [(s["study_name"], s["study_id"]) for s in summaries] == [("tiny", watched["study_id"])]
    assert get_json(f"{watched['base']}/api/meta")["artifact_is_available"] is True


def plotlyjs_artifacts(detail: dict[str, Any]) -> list[str]:
    return [a["artifact_id"] for a in detail["artifacts"] if a["filename"] == PLOTLYJS_FILE]


def test_the_study_has_one_plotlyjs_artifact_served_as_javascript(watched):
    detail = watched["detail"]
    # plotly.js, and the report `run` wrote at its end.
    assert sorted((a["filename"], a["mimetype"]) for a in detail["artifacts"]) == [
        (PLOTLYJS_FILE, "text/javascript"),
        ("tiny.html", "text/html"),
    ]
    (artifact,) = plotlyjs_artifacts(detail)
    assert watched["study"].user_attrs[PLOTLYJS_ATTR] == {
        "id": artifact,
        "version": get_plotlyjs_version(),
    }
    status, kind, body = get(f"{watched['base']}/artifacts/{watched['study_id']}/{artifact}")
    assert status == 200 and kind == "text/javascript"
    assert body.startswith(b"/**\n* plotly.js v") and len(body) > 1_000_000


def test_the_api_shows_trials_with_user_attrs_notes_and_curves_artifacts(watched):
    detail, study = watched["detail"], watched["study"]
    trials = study.get_trials()
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert [t["number"] for t in detail["trials"]] == [0, 1, 2]
    for shown, trial in zip(detail["trials"], trials, strict=True):
        keys = {a["key"] for a in shown["user_attrs"]}
        assert {"curves", "best_val_top1", "num_params", "epochs_run"} <= keys
        # The note is the pure function of the trial's user attrs, also for the pruned trial.
        assert shown["note"]["body"] == trial_note(records.TrialRecord.from_trial(trial))
        assert sorted((a["filename"], a["mimetype"]) for a in shown["artifacts"]) == [
            ("curves.html", "text/html"),
            ("val_predictions.npy", "application/octet-stream"),
        ]
        assert records.ARTIFACT_ERROR not in trial.user_attrs
    assert detail["trials"][1]["note"]["body"].startswith(
        "**Pruned** at epoch 2: below the median (test)."
    )
    attrs = study.user_attrs
    assert detail["note"]["body"] == study_note(
        name="tiny",
        space=str(watched["space"]),
        source=attrs["data_source"],
        storage=watched["url"],
        summary=attrs["split_summary"],
        artifacts="results/artifacts",
        report="reports/tiny.html (also the study artifact tiny.html)",
    )


def test_each_curves_artifact_is_small_and_loads_the_studys_plotlyjs(watched):
    study_id = watched["study_id"]
    (plotlyjs,) = plotlyjs_artifacts(watched["detail"])
    for trial in watched["detail"]["trials"]:
        artifact = curves_artifact(trial)
        status, kind, body = get(
            f"{watched['base']}/artifacts/{study_id}/{trial['trial_id']}/{artifact}"
        )
        html = body.decode()
        assert status == 200 and kind.startswith("text/html")
        assert len(body) < 100_000, len(body)  # was ~4.8 MB with plotly.js embedded
        assert html.startswith("<!doctype html>") and "<th>val top-1</th>" in html
        assert f'<script src="/artifacts/{study_id}/{plotlyjs}"></script>' in html
        assert "plotly.js v" not in html
    files = list((watched["folder"] / "results" / "artifacts").iterdir())
    assert len(files) == 8  # 3 pages, 3 predictions files, one plotly.js and the report


def test_a_second_run_keeps_a_note_a_person_edited(watched, tiny_manifest, monkeypatch):
    from optuna_dashboard import get_note, save_note

    monkeypatch.chdir(watched["folder"])
    study = optuna.load_study(study_name="tiny", storage=watched["url"])
    written = get_note(study)
    opts = RunOptions(space=watched["space"], data=tiny_manifest, storage=watched["url"])
    run_study(opts, out=open(os.devnull, "w"))  # no trial left to run: only the note
    assert get_note(study) == written
    run_study(opts, out=open(os.devnull, "w"))
    line = "- report: `reports/tiny.html (also the study artifact tiny.html)`"
    assert line in get_note(study)  # ours: kept up to date
    save_note(study, "my own notes")
    run_study(opts, out=open(os.devnull, "w"))
    assert get_note(study) == "my own notes"  # a person's: left alone
    assert plotlyjs_artifacts(get_json(f"{watched['base']}/api/studies/{watched['study_id']}")) == (
        plotlyjs_artifacts(watched["detail"])
    )


def test_a_second_run_with_new_trials_reuses_the_studys_plotlyjs(
    tmp_path, tiny_manifest, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    url = storage_url(tmp_path)
    for trials in (1, 2):  # the second run adds one trial to the same study
        space = write_space(tmp_path, trials=trials, epochs=1)
        opts = RunOptions(space=space, data=tiny_manifest, storage=url, trials=trials)
        study = run_study(opts, out=open(os.devnull, "w"))
    assert len(study.trials) == 2
    storage = RDBStorage(url)
    study_id = storage.get_study_id_from_name("tiny")
    metas = study_artifacts(storage, study_id)
    # plotly.js once, and one report: the second run's replaced the first's.
    assert sorted(m["filename"] for m in metas.values()) == [PLOTLYJS_FILE, "tiny.html"]
    (plotlyjs,) = [i for i, m in metas.items() if m["filename"] == PLOTLYJS_FILE]
    store = FileSystemArtifactStore(tmp_path / "results" / "artifacts")
    for trial in study.trials:
        assert records.ARTIFACT_ERROR not in trial.user_attrs
        system = storage.get_trial_system_attrs(trial._trial_id)
        (key,) = [k for k, v in system.items() if "artifacts:" in k and "curves.html" in v]
        with store.open_reader(key.removeprefix("artifacts:")) as f:
            assert f'<script src="/artifacts/{study_id}/{plotlyjs}"></script>' in f.read().decode()


def test_a_failed_artifact_never_fails_the_trial(tmp_path, tiny_manifest, monkeypatch, capsys):
    def full_disk(self, artifact_id, content_body):
        raise OSError(28, "No space left on device")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(optuna.artifacts.FileSystemArtifactStore, "write", full_disk)
    space = write_space(tmp_path, trials=1, epochs=1)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(tmp_path)),
        out=open(os.devnull, "w"),
    )
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    full = "OSError: [Errno 28] No space left on device"
    # The predictions file, then the dashboard view (plotly.js, its first file): both recorded.
    error = f"predictions: {full}; curves artifact: {full}"
    assert trial.user_attrs[records.ARTIFACT_ERROR] == error
    err = capsys.readouterr().err
    assert f"warning: trial 0: dashboard view not written: curves artifact: {full}" in err
    assert f"warning: report artifact not uploaded: {full}" in err  # the file is still written
    assert Path("reports/tiny.html").is_file()
    assert PLOTLYJS_ATTR not in study.user_attrs  # recorded only once written


# ----------------------------------------------------------------------------------- the CLI


def study_cli(*args: str, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_storage(tmp_path) -> str:
    url = storage_url(tmp_path)
    RDBStorage(url)  # creates the tables: a valid storage without studies
    return url


def test_cli_serves_until_ctrl_c(tmp_path, empty_storage):
    port = free_port()
    server = start(
        [
            sys.executable,
            "-m",
            "study",
            "dashboard",
            "--storage",
            empty_storage,
            "--port",
            str(port),
        ],
        tmp_path,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        assert lines[1] == f"open http://127.0.0.1:{port}/dashboard  (Ctrl-C to stop)\n", lines
        assert "--host 0.0.0.0 deliberately (no authentication)" in lines[2]
        assert get_json(f"http://127.0.0.1:{port}/api/studies") == {"study_summaries": []}
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0 and "dashboard stopped" in out and err == ""


def one_line_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_cli_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path):
    r = study_cli("dashboard", "--storage", "sqlite:///nothing/here.db", cwd=tmp_path)
    one_line_error(r, "no such file nothing/here.db")
    assert list(tmp_path.iterdir()) == []
    r = study_cli("dashboard", cwd=tmp_path)  # the default storage, before any run
    one_line_error(r, "storage 'sqlite:///results/studies.db': no such file results/studies.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "url", "message"),
    [
        (None, "bad url", "storage 'bad url' is not an SQLAlchemy URL"),
        (b"not sqlite", "sqlite:///junk.db", "file is not a database"),
        (None, "nosuchdialect://h/db", "storage 'nosuchdialect://h/db' cannot be opened"),
    ],
)
def test_cli_unreadable_storage_is_one_line(tmp_path, content, url, message):
    if content is not None:
        (tmp_path / "junk.db").write_bytes(content)
    one_line_error(study_cli("dashboard", "--storage", url, cwd=tmp_path), message)


def test_cli_port_in_use_is_one_line(tmp_path, empty_storage):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = study_cli("dashboard", "--storage", empty_storage, "--port", str(port), cwd=tmp_path)
    one_line_error(r, f"port {port} on 127.0.0.1 is already in use; pick another with --port")


# ------------------------------------------------------------------------------- a browser


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_browser_shows_the_trials(watched, tmp_path):
    require_chromium()
    page = f"{watched['base']}/dashboard/studies/{watched['study_id']}/trials"
    r = chromium("--dump-dom", page, profile=tmp_path / "profile")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    # The trial list, its parameters, the note and the curves artifact, rendered by the app.
    for text in ("Trial 0", "Trial 2", "weight_decay", "Pruned", "curves.html", "best val top-1"):
        assert text in dom, text
    shot = tmp_path / "study.png"
    r = chromium(
        f"--screenshot={shot}", "--window-size=1280,900", page, profile=tmp_path / "profile"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_a_browser_draws_a_curves_page_served_by_the_dashboard(watched, tmp_path):
    require_chromium()
    trial = watched["detail"]["trials"][2]
    artifact = curves_artifact(trial)
    page = f"{watched['base']}/artifacts/{watched['study_id']}/{trial['trial_id']}/{artifact}"
    r = chromium("--dump-dom", page, profile=tmp_path / "profile")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    # plotly.js came from the study artifact and drew both panels, with the table below.
    assert 'class="main-svg"' in dom and "top-1 accuracy" in dom and "val loss" in dom, dom[-3000:]
    assert "<th>val top-1</th>" in dom
    # The same file opened on its own: no plot, the numbers still there.
    saved = tmp_path / "curves.html"
    saved.write_bytes(get(page)[2])
    r = chromium("--dump-dom", saved.as_uri(), profile=tmp_path / "profile")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "main-svg" not in r.stdout and "<th>val top-1</th>" in r.stdout
    assert "The plot needs optuna-dashboard" in r.stdout
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
