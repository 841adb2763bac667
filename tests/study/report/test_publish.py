"""Writing the report: the file, the study artifact that replaces the last one, the note's
link, the inputs read from storage, and ``python -m study report``'s choice of study."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore
from optuna_dashboard import get_note

from study import records
from study.analysis.inputs import prediction_trials
from study.analysis.markup import paragraph
from study.analysis.planted import Planted, planted_study
from study.dashboard.artifacts import study_artifacts
from study.frame import trials_frame
from study.report.load import class_groups, load_inputs
from study.report.page import Section
from study.report.publish import default_report_path, report_study, write_report
from vitlab.errors import UserError

SECTIONS = (
    Section(
        "seen",
        "What the page saw",
        lambda inputs, infos: (
            None,
            paragraph(f"{len(inputs.frame)} trials, predictions of {sorted(inputs.predictions)}"),
        ),
    ),
)


@pytest.fixture
def stored(tmp_path):
    """A planted study on SQLite with every trial's predictions in an artifact folder."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    store = FileSystemArtifactStore(tmp_path / "artifacts")
    (tmp_path / "artifacts").mkdir()
    study, found = planted_study(Planted(), 8, storage=url, study_name="planted", store=store)
    return {"url": url, "study": study, "store": store, "found": found, "tmp": tmp_path}


def test_the_inputs_hold_the_compared_trials_predictions(stored):
    inputs = load_inputs(stored["study"], stored["store"])
    compared = prediction_trials(inputs.frame)  # the baseline and the top five
    assert 0 in compared and len(compared) in (5, 6)
    assert sorted(inputs.predictions) == sorted(compared)
    for number, p in inputs.predictions.items():
        assert np.array_equal(p.predicted, stored["found"][number].predicted)
        assert np.array_equal(p.labels, stored["found"][number].labels)


def test_a_lost_predictions_file_costs_only_its_trial(stored):
    trial = stored["study"].trials[0]
    stored["store"].remove(trial.user_attrs[records.PREDICTIONS])
    err = io.StringIO()
    inputs = load_inputs(stored["study"], stored["store"], err=err)
    assert sorted(inputs.predictions) == sorted(set(prediction_trials(inputs.frame)) - {0})
    assert err.getvalue().startswith("warning: trial 0: val predictions not read")


def test_the_report_is_written_uploaded_once_and_linked_from_the_note(stored):
    study, path = stored["study"], stored["tmp"] / "out" / "planted.html"
    storage = study._storage
    out = io.StringIO()
    write_report(
        study, storage, stored["store"], path, sections=SECTIONS, storage_url=stored["url"], out=out
    )
    page = path.read_text()
    compared = sorted(prediction_trials(trials_frame(study)))
    assert f"8 trials, predictions of {compared}" in page
    assert out.getvalue().splitlines()[0] == "report: reading study 'planted'..."
    assert not list(path.parent.glob("*.tmp"))
    first = study.user_attrs[records.REPORT]
    study_id = storage.get_study_id_from_name("planted")
    assert list(study_artifacts(storage, study_id)) == [first]
    assert str(path) in get_note(study)
    # A second report replaces the first: one artifact, the old file gone.
    write_report(study, storage, stored["store"], path, sections=SECTIONS)
    second = study.user_attrs[records.REPORT]
    assert second != first and list(study_artifacts(storage, study_id)) == [second]
    with pytest.raises(Exception):  # noqa: B017 - each store raises its own not-found error
        stored["store"].open_reader(first)
    with stored["store"].open_reader(second) as reader:
        assert reader.read().decode() == page


def test_report_study_picks_the_only_study_or_asks(stored, tmp_path):
    path = report_study(
        storage_url=stored["url"],
        path=tmp_path / "r.html",
        artifacts=tmp_path / "artifacts",
        out=io.StringIO(),
    )
    assert path.is_file() and "<!DOCTYPE html>" in path.read_text()
    optuna.create_study(study_name="other", storage=stored["url"])
    with pytest.raises(UserError, match=r"holds 2 studies \('planted', 'other'\): pass --study"):
        report_study(storage_url=stored["url"], out=io.StringIO())
    with pytest.raises(UserError, match=r"has no study 'nope' \(it has: 'planted', 'other'\)"):
        report_study("nope", storage_url=stored["url"], out=io.StringIO())


def test_the_cli_writes_the_default_path_and_prints_it(stored):
    tmp = stored["tmp"]
    r = subprocess.run(
        [sys.executable, "-m", "study", "report", "--storage", stored["url"]],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[-2] == "report: reports/planted.html"
    assert r.stdout.splitlines()[-1].startswith("next: python -m study ablate --study planted")
    assert (tmp / "reports" / "planted.html").is_file()


@pytest.mark.parametrize(
    ("name", "path"),
    [("demo", "reports/demo.html"), ("a/b", "reports/b.html"), ("", "reports/study.html")],
)
def test_the_default_report_path(name, path):
    assert str(default_report_path(name)) == path


def test_class_groups_come_from_the_split_files(tmp_path):
    lines = {
        "train": [
            ("a.png", "rosa", "Rosa"),
            ("b.png", "rubus", "Rubus"),
            ("c.png", "rosa", "Rosa"),
        ],
        "val": [("d.png", "rosa", "Rosaceae?"), ("e.png", "rosa", "Rosa")],
    }
    files = {}
    for split, rows in lines.items():
        files[split] = str(tmp_path / f"{split}.jsonl")
        text = "".join(
            json.dumps({"image": i, "label": label, "genus": g}) + "\n" for i, label, g in rows
        )
        (tmp_path / f"{split}.jsonl").write_text(text)
    record = records.StudyRecord(split_files=files)
    # rosa's images disagree: its most common value wins.
    assert class_groups(record, "genus") == {"rosa": "Rosa", "rubus": "Rubus"}
    with pytest.raises(UserError, match="no image in .* has a field 'family'"):
        class_groups(record, "family")
    with pytest.raises(UserError, match="records no split files"):
        class_groups(records.StudyRecord(), "genus")


def test_a_running_study_is_reported_from_its_finished_trials(stored):
    study = stored["study"]
    study.ask()  # a worker's trial still running: no value, no predictions yet
    path = report_study(
        storage_url=stored["url"],
        path=stored["tmp"] / "running.html",
        artifacts=stored["tmp"] / "artifacts",
        out=io.StringIO(),
    )
    page = path.read_text()
    assert "9 trials, 8 complete" in page and 'class="broken"' not in page
