"""YAML search spaces: the shipped files, suggestions on a real Optuna study, and one test per
validation error (each message names the file, the key and the problem)."""

from __future__ import annotations

import copy
import itertools
import json
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from study.pruners.overfitting import OverfittingPruner
from study.space.checks import SpaceError
from study.space.load import load_space
from study.space.spec import ParamSpec
from vitlab.config import ConfigError, DataConfig, TrainConfig, load_train_config
from vitlab.ladder import DEFAULT_LADDER, aug_params

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {name: REPO / "search_spaces" / f"{name}.yaml" for name in ("demo", "vit_regularization")}
DELETE = object()

BASE: dict[str, Any] = {
    "description": "a test space",
    "fixed": {
        "epochs": 2,
        "image_size": 32,
        "model_kwargs": {"patch_size": 8, "global_pool": "avg"},
    },
    "models": {"small": {"name": "vit_tiny_patch16_224", "kwargs": {"patch_size": 4, "depth": 1}}},
    "params": {
        "model": {"type": "categorical", "choices": ["small", "vit_small_patch16_224"]},
        "weight_decay": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
        "drop_rate": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1, "role": "scientific"},
        "min_images": {"type": "categorical", "choices": [1, 2, 3]},
        "batch_size": {"type": "int", "low": 16, "high": 64, "step": 16, "role": "nuisance"},
        "warmup_epochs": {"type": "int", "low": 1, "high": 8, "log": True, "role": "fixed"},
    },
    "baseline": {
        "model": "small",
        "weight_decay": 0.01,
        "drop_rate": 0.0,
        "min_images": 1,
        "batch_size": 32,
        "warmup_epochs": 1,
    },
}


def write(tmp_path: Path, edits: dict[str, Any] | None = None, text: str | None = None) -> Path:
    """BASE with ``edits`` ({"dotted.key.path": value or DELETE}) as tmp_path/space.yaml."""
    raw = copy.deepcopy(BASE)
    for dotted, value in (edits or {}).items():
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    path = tmp_path / "space.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(raw, sort_keys=False))
    return path


# -- the shipped files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_spaces_load_and_build_their_baseline(name: str) -> None:
    space = load_space(SHIPPED[name])
    assert space.name == name and space.description
    assert set(space.baseline) == {p.name for p in space.params}
    config = space.train_config(space.baseline)
    assert isinstance(config, TrainConfig)
    for key, value in space.baseline.items():
        preset = value in space.models if key == "model" else value in space.pretrained_weights
        if key == "pretrained" and value == "none":
            assert config.pretrained is None
        elif key not in ("model", "pretrained") or not preset:
            assert getattr(config, key) == value
    assert space.trials and space.trials > 0
    assert isinstance(space.make_sampler().base, optuna.samplers.TPESampler)
    assert isinstance(space.make_pruner(), optuna.pruners.BasePruner)
    json.dumps(space.as_dict())


def test_demo_space_runs_offline_on_the_demo_data_with_its_own_presets() -> None:
    """What the demo needs to run anywhere, whatever its tuned numbers are."""
    space = load_space(SHIPPED["demo"])
    assert space.data is None and space.data_config() is None  # the data come from --data
    config = space.train_config(space.baseline)
    preset = space.models[space.baseline["model"]]
    assert (config.model, config.model_kwargs) == (preset["name"], preset["kwargs"])
    # The seed fine-tuned pretrained features: so does the baseline, from a file in the repo
    # (no download), and so can every model preset the pretrained parameter offers.
    assert config.pretrained is not None and Path(config.pretrained).is_file()
    weights = space.weights_files()
    assert Path(config.pretrained) in weights and all(w.is_file() for w in weights)
    assert len(weights) == len(space.models)
    # The demo's own ladder: the seed's recipe (s = 0.5) never crops; stronger settings do.
    assert space.aug_ladder != DEFAULT_LADDER
    assert aug_params(0.5, space.aug_ladder).crop_scale_min == 1.0
    assert aug_params(1.0, space.aug_ladder).crop_scale_min < 1.0


def test_gpu_space_names_a_placeholder_manifest_relative_to_the_file() -> None:
    space = load_space(SHIPPED["vit_regularization"])  # the manifest does not exist: still loads
    data = space.data_config()
    assert data is not None and data.manifest is not None
    assert Path(data.manifest).resolve() == (REPO / "data/plants/dataset.jsonl").resolve()
    assert space.train_config(space.baseline).data == data
    assert space.baseline["model"] == "vit_base_patch16_224"
    assert space.baseline["pretrained"] == "hub"  # the seed fine-tuned (see the YAML)


# -- suggestions on a real study -------------------------------------------------------------


@pytest.mark.parametrize("source", ["demo", "tmp"])
def test_suggest_stays_in_range_with_the_right_types(source: str, tmp_path: Path) -> None:
    space = load_space(SHIPPED["demo"] if source == "demo" else write(tmp_path))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.enqueue_trial(dict(space.baseline))
    for i in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        if i == 0:
            assert params == space.baseline  # the enqueued baseline comes back exactly
        assert trial.params == params and list(params) == [p.name for p in space.params]
        for p in space.params:
            value = params[p.name]
            assert trial.distributions[p.name] == p.distribution()
            if p.type == "categorical":
                assert value in p.choices
                continue
            assert type(value) is (int if p.type == "int" else float)
            assert p.low <= value <= p.high
            if p.step is not None:
                k = (value - p.low) / p.step
                assert math.isclose(k, round(k), abs_tol=1e-9)
        space.train_config(params)  # every suggestion builds
        study.tell(trial, 0.0)


def test_model_presets_expand_into_model_and_kwargs(tmp_path: Path) -> None:
    space = load_space(write(tmp_path))
    preset = space.train_config({**space.baseline, "model": "small"})
    assert preset.model == "vit_tiny_patch16_224"
    assert preset.model_kwargs == {"patch_size": 4, "global_pool": "avg", "depth": 1}
    timm_name = space.train_config({**space.baseline, "model": "vit_small_patch16_224"})
    assert timm_name.model == "vit_small_patch16_224"
    assert timm_name.model_kwargs == {"patch_size": 8, "global_pool": "avg"}
    fixed_preset = load_space(
        write(tmp_path, {"fixed.model": "small", "params.model": DELETE, "baseline.model": DELETE})
    )
    assert fixed_preset.train_config(fixed_preset.baseline).model_kwargs["depth"] == 1


def test_train_config_overrides_fixed_and_ladder_and_names_the_file(tmp_path: Path) -> None:
    ladder = [dict(row) for row in DEFAULT_LADDER]
    ladder[2]["randaug_magnitude"] = 5.0
    space = load_space(write(tmp_path, {"aug_ladder": ladder}))
    config = space.train_config(space.baseline, data=DataConfig(manifest="m.jsonl"))
    assert config.epochs == 2 and config.aug_ladder[2]["randaug_magnitude"] == 5.0
    assert config.data.manifest == "m.jsonl" and config.weight_decay == 0.01
    with pytest.raises(SpaceError, match=r"space\.yaml.*drop_rate must be in \[0, 1\)"):
        space.train_config({**space.baseline, "drop_rate": 1.5})


def test_roles_and_as_dict_round_trip(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {"trials": 5, "timeout": 60.0}))
    assert space.report == {"bucket_edges": [10, 100]}  # the documented default
    assert space.roles() == {
        "model": "scientific",
        "weight_decay": "scientific",
        "drop_rate": "scientific",
        "min_images": "scientific",
        "batch_size": "nuisance",
        "warmup_epochs": "fixed",
    }
    plain = space.as_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain["source"] == str(tmp_path / "space.yaml")
    again_path = tmp_path / "again.yaml"
    again_path.write_text(
        yaml.safe_dump({k: v for k, v in plain.items() if k != "source"}, sort_keys=False)
    )
    again = load_space(again_path)
    assert again.params == space.params and again.baseline == space.baseline
    assert again.report == space.report
    assert (again.fixed, again.models, again.trials, again.timeout) == (
        space.fixed,
        space.models,
        5,
        60.0,
    )


def test_yaml_exponents_without_a_dot_are_floats(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False).replace("0.001", "1e-3")
    assert "low: 1e-3" in text
    space = load_space(write(tmp_path, text=text))
    assert space.params[1] == ParamSpec("weight_decay", "float", 1e-3, 0.3, log=True)


# -- samplers and pruners --------------------------------------------------------------------

SAMPLERS = [
    (None, optuna.samplers.TPESampler),
    ({"type": "tpe", "seed": 3, "multivariate": False, "n_startup_trials": 2}, "TPESampler"),
    ({"type": "random", "seed": 1}, "RandomSampler"),
    ({"type": "gp", "n_startup_trials": 5}, "GPSampler"),
    ({"type": "qmc", "scramble": True}, "QMCSampler"),
    ({"type": "grid", "grid": {"weight_decay": [0.01, 0.1]}}, "GridSampler"),
]


@pytest.mark.parametrize(("settings", "expected"), SAMPLERS)
def test_make_sampler_types(settings: Any, expected: Any, tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {"sampler": settings}))
    assert space.sampler == settings
    name = expected if isinstance(expected, str) else expected.__name__
    assert type(space.make_sampler().base).__name__ == name  # seeded per trial (sampling.py)


def test_grid_sampler_enumerates_an_all_categorical_grid(tmp_path: Path) -> None:
    text = yaml.safe_dump(
        {
            "params": {
                "min_images": {"type": "categorical", "choices": [1, 2]},
                "label_smoothing": {"type": "categorical", "choices": [0.0, 0.1, 0.2]},
                "epochs": {"type": "int", "low": 1, "high": 2},
            },
            "baseline": {"min_images": 1, "label_smoothing": 0.0, "epochs": 1},
            "sampler": {"type": "grid", "seed": 0},
        }
    )
    space = load_space(write(tmp_path, text=text))
    study = optuna.create_study(sampler=space.make_sampler())
    study.optimize(lambda t: float(space.train_config(space.suggest(t)).epochs), n_trials=20)
    seen = [tuple(t.params.values()) for t in study.trials]
    assert len(seen) == 12 and set(seen) == set(itertools.product([1, 2], [0.0, 0.1, 0.2], [1, 2]))


def test_pruner_settings_pass_through_and_build(tmp_path: Path) -> None:
    settings = {
        "type": "overfitting",
        "warmup_epochs": 2,
        "patience": 2,
        "gap_threshold": 0.25,
        "wrapped": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2},
    }
    space = load_space(write(tmp_path, {"pruner": settings}))
    assert space.pruner == settings
    assert isinstance(space.make_pruner(), OverfittingPruner)
    median = load_space(write(tmp_path, {"pruner": {"type": "median"}})).make_pruner()
    assert isinstance(median.pruner, optuna.pruners.MedianPruner)  # wrapped: it says why
    assert isinstance(load_space(write(tmp_path)).make_pruner(), optuna.pruners.BasePruner)


@pytest.mark.parametrize(
    ("pretrained", "model", "expected"),
    [
        ("none", "small", None),
        ("mine", "small", "{here}/weights/small.pt"),  # relative to the space file
        ("mine", "tiny", "/abs/tiny.pt"),
        ("other.pt", "small", "{here}/other.pt"),  # not a set name: a file, relative to it too
        ("augreg_in21k", "small", "augreg_in21k"),  # a timm tag is not a path
    ],
)
def test_pretrained_names_a_weights_file_per_model_preset(
    pretrained: str, model: str, expected: str | None, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        {
            "models.tiny": {"name": "vit_tiny_patch16_224", "kwargs": {"depth": 1}},
            "params.model.choices": ["small", "tiny"],
            "pretrained_weights": {"mine": {"small": "weights/small.pt", "tiny": "/abs/tiny.pt"}},
            "params.pretrained": {"type": "categorical", "choices": ["none", "mine"]},
            "baseline.pretrained": "mine",
        },
    )
    space = load_space(path)
    config = space.train_config({**space.baseline, "pretrained": pretrained, "model": model})
    assert config.pretrained == (expected and expected.format(here=tmp_path))
    assert space.weights_files() == [Path("/abs/tiny.pt"), tmp_path / "weights/small.pt"]


def test_a_space_without_pretrained_weights_lists_no_files(tmp_path: Path) -> None:
    assert load_space(write(tmp_path)).weights_files() == []


# -- validation: one case per error ----------------------------------------------------------

BAD_LADDER = [dict(row) for row in DEFAULT_LADDER]
BAD_LADDER[1]["erase_prob"] = 0.9  # above the s=1 row's 0.4: not monotone

ERRORS = [
    ("unknown top-level key", {"paramz": {}}, ["paramz: unknown key", "did you mean params"]),
    ("unknown param key", {"params.weight_decay.lgo": True}, ["params.weight_decay.lgo", "log"]),
    ("unknown type", {"params.drop_rate.type": "double"}, ["params.drop_rate.type", "'double'"]),
    ("low > high", {"params.drop_rate.low": 0.6}, ["params.drop_rate.low", "above high"]),
    ("log with low <= 0", {"params.weight_decay.low": 0}, ["params.weight_decay.low", "low > 0"]),
    (
        "unknown model in fixed",
        {"fixed.model": "vit_tinyy_patch16_224", "params.model": DELETE, "baseline.model": DELETE},
        ["fixed.model", "unknown model", "did you mean", "vit_tiny_patch16_224"],
    ),
    (
        "unknown model in a preset",
        {"models.small.name": "vit_smal_patch16_224"},
        ["models.small.name", "unknown model", "vit_small_patch16_224"],
    ),
    (
        "unknown model in choices",
        {"params.model.choices": ["small", "deit_tiny_patch16_22"]},
        ["params.model.choices[1]", "unknown model", "deit_tiny_patch16_224"],
    ),
    ("empty choices", {"params.min_images.choices": []}, ["params.min_images.choices", "empty"]),
    ("baseline out of range", {"baseline.weight_decay": 0.5}, ["baseline.weight_decay", "outside"]),
    ("baseline off the step grid", {"baseline.batch_size": 20}, ["baseline.batch_size", "step"]),
    ("baseline not a choice", {"baseline.min_images": 4}, ["baseline.min_images", "not among"]),
    (
        "point names no parameter",
        {"points": {"fix_list": {"weight_decayy": 0.05}}},
        ["points.fix_list.weight_decayy", "not a parameter", "did you mean weight_decay"],
    ),
    (
        "point value out of range",
        {"points": {"fix_list": {"drop_rate": 0.9}}},
        ["points.fix_list.drop_rate", "outside"],
    ),
    ("point named best", {"points": {"best": {"drop_rate": 0.1}}}, ["points.best", "'best'"]),
    ("point not a mapping", {"points": {"fix_list": 3}}, ["points.fix_list", "mapping"]),
    ("baseline missing", {"baseline.drop_rate": DELETE}, ["baseline", "'drop_rate'", "missing"]),
    (
        "baseline unknown",
        {"baseline.drop_rat": 0.1},
        ["baseline.drop_rat", "not a parameter", "did you mean drop_rate"],
    ),
    ("bad role", {"params.drop_rate.role": "primary"}, ["params.drop_rate.role", "'primary'"]),
    (
        "param not a TrainConfig field",
        {"params.dropout": {"type": "float", "low": 0, "high": 0.5}},
        ["params.dropout", "not a TrainConfig field"],
    ),
    (
        "fixed not a TrainConfig field",
        {"fixed.epoch": 3},
        ["fixed.epoch", "not a TrainConfig field", "did you mean epochs"],
    ),
    ("bad sampler type", {"sampler": {"type": "tpee"}}, ["sampler.type", "'tpee'", "tpe"]),
    (
        "sampler key of another sampler",
        {"sampler": {"type": "random", "n_startup_trials": 3}},
        ["sampler.n_startup_trials", "unknown key"],
    ),
    (
        "grid over a continuous float",
        {"sampler": {"type": "grid"}},
        ["params.weight_decay", "continuous"],
    ),
    ("bad pruner", {"pruner": {"type": "median", "foo": 1}}, ["pruner", "unknown key 'foo'"]),
    (
        "range beyond TrainConfig's",
        {"params.drop_rate.high": 1.0, "params.drop_rate.step": DELETE},
        ["params.drop_rate = 1.0", "drop_rate must be in [0, 1)"],
    ),
    (
        "param also fixed",
        {"fixed.weight_decay": 0.1},
        ["params.weight_decay", "also under 'fixed'"],
    ),
    (
        "float param for an int field",
        {"params.batch_size.type": "float"},
        ["params.batch_size.type", "use type int"],
    ),
    ("step with log", {"params.warmup_epochs.step": 2}, ["params.warmup_epochs.step", "log"]),
    ("bad ladder", {"aug_ladder": BAD_LADDER}, ["aug_ladder", "erase_prob"]),
    ("bad data key", {"data": {"manifst": "x.jsonl"}}, ["data", "'manifst'", "manifest"]),
    ("fixed data", {"fixed.data": {"manifest": "x"}}, ["fixed.data", "top-level 'data'"]),
    (
        "data fractions leave no train",
        {"data": {"manifest": "x.jsonl", "val_frac": 0.6, "test_frac": 0.5}},
        ["data", "val_frac + test_frac must be < 1"],
    ),
    ("bad trials", {"trials": 0}, ["trials", "> 0"]),
    ("bad report key", {"report": {"buckets": [5]}}, ["report.buckets", "unknown key"]),
    (
        "bucket edges not increasing",
        {"report": {"bucket_edges": [10, 10]}},
        ["report.bucket_edges", "increasing integers >= 1", "[10, 10]"],
    ),
    ("bucket edge zero", {"report": {"bucket_edges": [0]}}, ["report.bucket_edges", "[0]"]),
    ("no params", {"params": {}, "baseline": {}}, ["params", "at least one"]),
    (
        "weights for an unknown preset",
        {"pretrained_weights": {"mine": {"smal": "w.pt"}}},
        ["pretrained_weights.mine.smal", "not a model preset", "small"],
    ),
    (
        "weights set with a reserved name",
        {"pretrained_weights": {"none": {"small": "w.pt"}}},
        ["pretrained_weights.none", "reserved"],
    ),
    (
        "weights path not text",
        {"pretrained_weights": {"mine": {"small": 3}}},
        ["pretrained_weights.mine.small", "file path"],
    ),
    (
        "empty weights set",
        {"pretrained_weights": {"mine": {}}},
        ["pretrained_weights.mine", "at least one"],
    ),
    (
        "a model choice without weights",
        {
            "pretrained_weights": {"mine": {"small": "w.pt"}},
            "models.big": {"name": "vit_tiny_patch16_224", "kwargs": {"depth": 2}},
            "params.model.choices": ["small", "big"],
            "params.pretrained": {"type": "categorical", "choices": ["none", "mine"]},
            "baseline.pretrained": "none",
        },
        ["params.pretrained = 'mine' with model 'big'", "no file for model 'big'"],
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_errors_name_file_key_and_problem(
    edits: dict[str, Any], expected: list[str], tmp_path: Path
) -> None:
    path = write(tmp_path, edits)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params: {a: [1, 2}\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
    ids=["malformed YAML", "not a mapping"],
)
def test_unreadable_files(text: str, expected: str, tmp_path: Path) -> None:
    path = write(tmp_path, text=text)
    with pytest.raises(SpaceError, match=expected) as info:
        load_space(path)
    assert str(info.value).startswith(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="no such search-space file") as info:
        load_space(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


# Nine levels of nine aliases would be 9**9 strings; three levels here keep the pre-fix run small.
ALIAS_BOMB = """\
models:
  small:
    name: vit_tiny_patch16_224
    kwargs:
      a: &a [x, x, x, x, x, x, x, x, x]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]
params:
  model: {type: categorical, choices: [small]}
baseline: {model: small}
"""


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("space", ALIAS_BOMB, "line 5: YAML anchors and aliases are not allowed (anchor &a)"),
        (
            "space",
            "name: x\ndescription: *d\n",
            "line 2: YAML anchors and aliases are not allowed (alias *d)",
        ),
        (
            "config",
            "lr: &lr 0.1\nmin_lr: *lr\n",
            "line 1: YAML anchors and aliases are not allowed (anchor &lr)",
        ),
        (
            "config",
            "model_kwargs:\n  <<: *base\n",
            "line 2: YAML anchors and aliases are not allowed (alias *base)",
        ),
    ],
    ids=["alias bomb in a preset", "alias in a space", "anchor in a config", "merge key"],
)
def test_yaml_anchors_and_aliases_are_refused(kind: str, text: str, expected: str, tmp_path):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    error = SpaceError if kind == "space" else ConfigError
    with pytest.raises(error) as info:
        load_space(path) if kind == "space" else load_train_config(path)
    assert str(info.value) == f"{path}, {expected}: write the values out"


@pytest.mark.parametrize(
    ("kind", "text"),
    [("space", "params: " + "[" * 5000 + "]" * 5000 + "\n"), ("config", "{" * 5000 + "}" * 5000)],
    ids=["nested lists in a space", "nested mappings in a config"],
)
def test_yaml_nested_too_deeply_is_one_line(kind: str, text: str, tmp_path):
    """PyYAML builds nested nodes recursively: a deep file must not be a RecursionError."""
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    error = SpaceError if kind == "space" else ConfigError
    with pytest.raises(error) as info:
        load_space(path) if kind == "space" else load_train_config(path)
    assert str(info.value).startswith(f"{path}: not valid YAML (nested too deeply")


def test_a_point_is_the_baseline_with_the_values_it_lists(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {"points": {"fix_list": {"weight_decay": 0.05}}}))
    assert space.points == {"fix_list": {**space.baseline, "weight_decay": 0.05}}
    assert space.as_dict()["points"] == {"fix_list": {**space.baseline, "weight_decay": 0.05}}
    assert load_space(write(tmp_path)).points == {}
