"""The CLI as a user runs it: subprocesses, exit codes, and no tracebacks on bad input."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import create_trial

from study.ablate.plan import DEFAULT_SEEDS
from study.analysis.audit import DEFAULT_SAMPLE
from study.cli import DEMO_TRAIN_CONFIG, build_parser, main, run_options
from study.confirm.select import DEFAULT_SEEDS as CONFIRM_SEEDS
from study.confirm.select import DEFAULT_TOP as CONFIRM_TOP
from study.dashboard.server import DEFAULT_HOST, DEFAULT_PORT
from study.data import SPLITS_ROOT
from study.records import StudyRecord
from study.run.plan import DEFAULT_TRIALS, RunOptions
from study.single_run import TRAIN_ROOT
from study.space.load import DEFAULT_SPACE, load_space
from study.storage import (
    DEFAULT_ARTIFACTS,
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    MIN_GRACE_HEARTBEATS,
    default_storage_url,
)
from study.weights import DEFAULT_EPOCHS
from tests.study.helpers import storage_url, write_space
from vitlab.cache import DEFAULT_ROOT as CACHE_ROOT
from vitlab.cache import cache_size_for
from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DEMO_ROOT
from vitlab.manifest import IMAGE_FIELDS, LABEL_FIELDS
from vitlab.pretrain import PRETRAIN_ROOT

REPO = Path(__file__).resolve().parents[2]


def study(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_lists_subcommands_each_with_help():
    top = study("--help")
    assert top.returncode == 0
    commands = COMMANDS
    # argparse lists each subcommand indented by four spaces, its help after it (or below it).
    assert re.findall(r"^    ([\w-]+)", top.stdout, flags=re.MULTILINE) == commands, top.stdout
    for name in commands:
        assert re.search(rf"^    {name}(?: +|\n {{6,}})\S", top.stdout, flags=re.MULTILINE), name
        sub = study(name, "--help")
        assert sub.returncode == 0 and f"python -m study {name}" in sub.stdout


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    lines = []
    for c, n in {"rosa": 12, "ficus": 3, "acer": 2, "betula": 1}.items():
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "img" / c / f"{i}.jpg").write_bytes(b"x")
            lines.append({"image": f"img/{c}/{i}.jpg", "species": c})
    lines.append({"image": "img/rosa/absent.jpg", "species": "rosa"})
    path = tmp_path / "plants.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_split_writes_files_summary_and_missing_report(tmp_path, manifest):
    out = tmp_path / "split"
    r = study("split", "--manifest", str(manifest), "--out", str(out), "--seed", "4")
    assert r.returncode == 0, r.stderr
    assert "classes only in val   0" in r.stdout
    assert "skipped 1 missing image file(s)" in r.stdout
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["images_per_split"] == {"train": 14, "val": 3, "test": 1}
    assert summary["missing_images"] == 1 and summary["seed"] == 4
    assert "absent.jpg" in (out / "missing_images.txt").read_text()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert (
        study("split", "--manifest", str(manifest), "--out", str(out), "--seed", "4").returncode
        == 0
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            '{"path": "a.jpg", "label": "x"}\n{"path": \n',
            [],
            "plants.jsonl, line 2: malformed JSON",
        ),
        ('{"path": "a.jpg"}\n', [], "line 1: no label field"),
        ('{"path": "a.jpg", "label": ""}\n', [], "line 1: empty 'label'"),
        ("", [], "the manifest is empty"),
        (
            '{"path": "gone.jpg", "label": "x"}\n{"path": "a.jpg", "label": "x"}\n',
            ["--missing", "error"],
            "1 image file(s) not found",
        ),
    ],
)
def test_bad_manifest_is_one_clear_line(tmp_path, content, args, message):
    (tmp_path / "a.jpg").write_bytes(b"x")
    path = tmp_path / "plants.jsonl"
    path.write_text(content)
    r = study("split", "--manifest", str(path), "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2
    assert message in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "plants.jsonl"
    path.write_text("{oops\n")
    r = study("split", "--manifest", str(path), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "ManifestError" in r.stderr


def test_bad_fraction_is_rejected_by_the_parser():
    r = study("split", "--val-frac", "1.5")
    assert r.returncode == 2 and "must be in [0, 1), got 1.5" in r.stderr


def test_split_with_no_arguments_uses_the_demo_dataset(tmp_path):
    r = study("split", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # The fallback is said in one line (train and run share it: study.data.demo_manifest).
    assert r.stdout.count("no data given: using the demo dataset data/demo/manifest.jsonl") == 1
    out = tmp_path / "results" / "splits" / "demo"
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["classes_only_in_val"] == 0
    assert summary["classes"] >= 100
    assert (tmp_path / "data" / "demo" / "manifest.jsonl").is_file()


def test_split_refuses_to_overwrite_its_own_input(tmp_path, manifest):
    source = manifest.rename(tmp_path / "train.jsonl")
    before = source.read_bytes()
    r = study("split", "--manifest", str(source), "--out", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert str(source) in r.stderr and "--out" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--val-frac", "0.6", "--test-frac", "0.5"], "--val-frac + --test-frac must be < 1"),
        (["--out", "{file}"], "--out {file}: exists and is not a folder"),
    ],
    ids=["fractions leave no train", "out is a file"],
)
def test_split_errors_name_the_flag_not_internal_error(tmp_path, manifest, args, message):
    file = tmp_path / "notes.txt"
    file.write_text("keep me\n")
    args = [a.format(file=file) for a in args]
    r = study("split", "--manifest", str(manifest), *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message.format(file=file) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr
    assert file.read_text() == "keep me\n"


def test_train_help_names_a_config_that_exists():
    r = study("train", "--help")
    assert r.returncode == 0
    named = re.findall(r"[\w/.-]+\.yaml", r.stdout)
    assert named == [str(DEMO_TRAIN_CONFIG)], r.stdout
    assert (REPO / DEMO_TRAIN_CONFIG).is_file()


COMMANDS = [
    "run",
    "dashboard",
    "report",
    "ablate",
    "confirm",
    "audit-pruner",
    "diagnose",
    "split",
    "cache",
    "train",
    "pretrain",
    "demo",
]
# What a command needs besides its defaults.
REQUIRED = {"train": ["--config", "x.yaml"], "diagnose": ["--metrics", "m.csv", "--classes", "5"]}


def help_text(capsys, monkeypatch, command: str) -> str:
    """``command --help`` as printed, one line per option (a wide terminal: no wrapping)."""
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def option_help(text: str, flag: str) -> str:
    """The help of ``flag`` in a command's --help (its line, and the next if it wrapped)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^  {flag}[ ,]|^  {flag}$", line):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            return line + (following if following.startswith(" " * 8) else "")
    raise AssertionError(f"{flag} not in:\n{text}")


# (command, flag, what its help must name, its parsed default: the owner's value, or None
# where the flag's absence lets the owner decide)
DEFAULTS = [
    ("run", "--space", DEFAULT_SPACE, DEFAULT_SPACE),
    ("run", "--storage", default_storage_url(), None),
    ("run", "--trials", f"else {DEFAULT_TRIALS}", None),
    ("run", "--seed", f"default {RunOptions().seed}", RunOptions().seed),
    ("run", "--heartbeat", f"default {HEARTBEAT_SECONDS}", None),
    ("run", "--grace", f"max({GRACE_SECONDS}, {MIN_GRACE_HEARTBEATS} x heartbeat)", None),
    ("run", "--artifacts", DEFAULT_ARTIFACTS, DEFAULT_ARTIFACTS),
    ("dashboard", "--storage", default_storage_url(), None),
    ("dashboard", "--host", f"default {DEFAULT_HOST}", DEFAULT_HOST),
    ("dashboard", "--port", f"default {DEFAULT_PORT}", DEFAULT_PORT),
    ("dashboard", "--artifacts", DEFAULT_ARTIFACTS, DEFAULT_ARTIFACTS),
    ("report", "--storage", default_storage_url(), None),
    ("report", "--out", "reports/<study>.html", None),
    ("report", "--artifacts", DEFAULT_ARTIFACTS, DEFAULT_ARTIFACTS),
    ("ablate", "--storage", default_storage_url(), None),
    ("ablate", "--to", "best trial (default)", "best"),
    ("ablate", "--design", "factorial (default)", "factorial"),
    ("ablate", "--seeds", f"default {DEFAULT_SEEDS}", DEFAULT_SEEDS),
    ("ablate", "--heartbeat", f"default {HEARTBEAT_SECONDS}", None),
    ("ablate", "--grace", f"default {GRACE_SECONDS}", None),
    ("ablate", "--artifacts", DEFAULT_ARTIFACTS, DEFAULT_ARTIFACTS),
    ("confirm", "--storage", default_storage_url(), None),
    ("confirm", "--top", f"default {CONFIRM_TOP}", CONFIRM_TOP),
    ("confirm", "--seeds", f"default {CONFIRM_SEEDS}", CONFIRM_SEEDS),
    ("confirm", "--heartbeat", f"default {HEARTBEAT_SECONDS}", None),
    ("confirm", "--artifacts", DEFAULT_ARTIFACTS, DEFAULT_ARTIFACTS),
    ("audit-pruner", "--storage", default_storage_url(), None),
    ("audit-pruner", "--sample", f"default {DEFAULT_SAMPLE}", DEFAULT_SAMPLE),
    ("audit-pruner", "--grace", f"default {GRACE_SECONDS}", None),
    ("split", "--manifest", DEMO_ROOT, None),
    ("split", "--out", SPLITS_ROOT, None),
    ("split", "--seed", f"default {DataConfig().split_seed}", DataConfig().split_seed),
    ("split", "--val-frac", f"default {DataConfig().val_frac}", DataConfig().val_frac),
    ("split", "--test-frac", f"default {DataConfig().test_frac}", DataConfig().test_frac),
    ("split", "--image-field", ", ".join(IMAGE_FIELDS), None),
    ("split", "--label-field", ", ".join(LABEL_FIELDS), None),
    ("cache", "--image-size", f"default {TrainConfig().image_size}", TrainConfig().image_size),
    ("cache", "--image-size", f"{cache_size_for(TrainConfig().image_size)} for", 224),
    ("cache", "--root", CACHE_ROOT, CACHE_ROOT),
    ("train", "--config", DEMO_TRAIN_CONFIG, Path(REQUIRED["train"][1])),  # required: given
    ("train", "--metrics-out", TRAIN_ROOT, None),
    ("train", "--checkpoint-dir", TRAIN_ROOT, None),
    ("train", "--storage", default_storage_url(), None),
    ("train", "--trial", "the baseline is 0", None),
    ("train", "--seed", "the trial's recorded seed, else the study's", None),
    ("train", "--epochs", "the trial's own", None),
    ("pretrain", "--space", DEFAULT_SPACE, DEFAULT_SPACE),
    ("pretrain", "--epochs", f"default {DEFAULT_EPOCHS}", DEFAULT_EPOCHS),
    ("pretrain", "--data", PRETRAIN_ROOT, None),
    ("demo", "--out", DEMO_ROOT, DEMO_ROOT),
]


@pytest.mark.parametrize(("command", "flag", "named", "default"), DEFAULTS)
def test_help_names_the_owners_default_and_the_parser_uses_it(
    capsys, monkeypatch, command, flag, named, default
):
    assert str(named) in option_help(help_text(capsys, monkeypatch, command), flag)
    args = build_parser().parse_args([command, *REQUIRED.get(command, [])])
    assert getattr(args, flag.lstrip("-").replace("-", "_")) == default


def test_run_with_no_flags_is_the_runners_default_options():
    assert run_options(build_parser().parse_args(["run"])) == RunOptions()


def test_every_file_a_help_names_exists(capsys, monkeypatch):
    named = {
        path
        for command in COMMANDS
        for path in re.findall(r"[\w/.-]+\.ya?ml", help_text(capsys, monkeypatch, command))
    }
    assert {str(DEFAULT_SPACE), str(DEMO_TRAIN_CONFIG)} <= named
    assert [p for p in sorted(named) if not (REPO / p).is_file()] == []


@pytest.mark.parametrize("command", ["run", "train"])
@pytest.mark.parametrize("device", ["cuda:1", "cuda", "cpu", "mps", "auto"])
def test_device_accepts_what_a_config_accepts(command, device):
    args = build_parser().parse_args([command, *REQUIRED.get(command, []), "--device", device])
    assert args.device == device
    TrainConfig(device=device)  # the config accepts it too


@pytest.mark.parametrize("command", ["run", "train"])
def test_an_unknown_device_is_one_line_error(capsys, command):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, *REQUIRED.get(command, []), "--device", "tpu"])
    assert done.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        f"python -m study {command}: error: argument --device: device must be one of auto, "
        "cpu, cuda, mps or cuda:N, got 'tpu'"
    ]


@pytest.mark.parametrize(
    ("flag", "value", "error"),
    [
        ("--trials", "0", "must be an integer > 0, got 0"),
        ("--trials", "-3", "must be an integer > 0, got -3"),
        ("--trials", "two", "expected an integer, got 'two'"),
        ("--timeout", "0", "must be a number > 0, got 0"),
        ("--timeout", "inf", "must be a number > 0, got inf"),
        ("--timeout", "soon", "expected a number, got 'soon'"),
    ],
)
def test_run_refuses_counts_that_would_silently_mean_the_default(capsys, flag, value, error):
    # --trials 0 and --timeout 0 used to fall through to the space's values.
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["run", flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: {error}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "parsed"), [("--trials", "5", 5), ("--timeout", "90", 90.0)]
)
def test_run_takes_positive_counts(flag, value, parsed):
    args = build_parser().parse_args(["run", flag, value])
    assert getattr(args, flag.removeprefix("--")) == parsed


def test_cache_builds_the_manifest_images_at_the_crop_size_and_says_where(tmp_path, tiny_manifest):
    root = tmp_path / "cache"
    args = ["--manifest", str(tiny_manifest), "--root", str(root), "--image-size", "16"]
    r = study("cache", *args, "--workers", "0")
    assert r.returncode == 0, r.stderr
    images = len(tiny_manifest.read_text().splitlines())
    size = cache_size_for(16)
    (line,) = [line for line in r.stdout.splitlines() if line.startswith("cache ")]
    folder = line.removeprefix("cache ").split(":")[0]
    assert Path(folder).parent == root
    assert line == (
        f"cache {folder}: {images:,} images at {size}x{size}, 0 unreadable "
        f"(listed in {Path(folder) / 'failed.tsv'})"
    )


def test_building_the_parser_loads_neither_torch_nor_timm():
    # --help reads every command's defaults; it must not wait seconds for the engine's imports.
    code = (
        "import sys; from study.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# ------------------------------------------------------------------------- train --trial


@pytest.fixture
def recorded(tmp_path: Path, tiny_manifest: Path) -> str:
    """A storage with study 'tiny', recorded with a fingerprint its data does not have, two
    finished trials and a waiting one; and a study 'empty' that no run recorded."""
    url = storage_url(tmp_path)
    space = load_space(write_space(tmp_path))
    study = optuna.create_study(study_name="tiny", storage=url, direction="maximize")
    StudyRecord(
        dataset_fingerprint="0" * 64,
        space=space.as_dict(),
        train_seed=0,
        data_config=dataclasses.asdict(DataConfig(manifest=str(tiny_manifest))),
    ).write(study)
    distributions = {p.name: p.distribution() for p in space.params}
    for value in (0.1, 0.2):
        trial = create_trial(params=dict(space.baseline), distributions=distributions, value=value)
        study.add_trial(trial)
    study.enqueue_trial(dict(space.baseline))  # waiting: no parameter suggested yet
    optuna.create_study(study_name="empty", storage=url)
    return url


TRIAL = ["train", "--study", "tiny", "--trial"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--study", "nope", "--trial", "0", "--storage", "{url}"],
            "storage '{url}' has no study 'nope' (it has: 'tiny', 'empty')",
        ),
        (
            [*TRIAL, "7", "--storage", "{url}"],
            "study 'tiny' has no trial 7: it has 3 trials (0 to 2)",
        ),
        ([*TRIAL, "-1", "--storage", "{url}"], "study 'tiny' has no trial -1: it has 3 trials"),
        (
            [*TRIAL, "2", "--storage", "{url}"],
            "trial 2 of study 'tiny' (WAITING) has no value for drop_rate, min_images, "
            "weight_decay: it never started training",  # in the file's order
        ),
        (
            [*TRIAL, "0", "--storage", "{url}"],
            "the data of study 'tiny' changed since it ran: {manifest} now splits to fingerprint",
        ),
        (
            ["train", "--study", "empty", "--trial", "0", "--storage", "{url}"],
            "study 'empty' has no record of a run (no trial was started by 'python -m study "
            "run'): nothing to rebuild",
        ),
        (
            [*TRIAL, "0", "--storage", "sqlite:///{tmp}/nowhere.db"],
            "storage 'sqlite:///{tmp}/nowhere.db': no such file {tmp}/nowhere.db",
        ),
        ([*TRIAL, "0"], f"storage '{default_storage_url()}': no such file"),
        (
            ["train", "--config", "x.yaml", "--trial", "0"],
            "--config and --study/--trial exclude each other: give one of the two",
        ),
        (
            ["train", "--config", "x.yaml", "--study", "tiny"],
            "--config and --study/--trial exclude each other: give one of the two",
        ),
        (
            ["train", "--config", "x.yaml", "--epochs", "3", "--seed", "1"],
            "--epochs, --seed: only with --study and --trial, not --config",
        ),
        (["train", "--trial", "0"], "--trial goes with --study: give both to retrain a study's"),
        (["train", "--study", "tiny"], "--study goes with --trial: give both to retrain a study's"),
        (["train"], "train needs --config FILE, or --study NAME with --trial N"),
    ],
)
def test_train_trial_errors_are_one_line(
    argv, message, recorded, tiny_manifest, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the default storage is not there
    names = {"url": recorded, "manifest": tiny_manifest, "tmp": tmp_path}
    assert main([a.format(**names) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message.format(**names)}"), captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "results" / "train").exists()  # nothing was trained or written
