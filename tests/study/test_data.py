"""Where `train` and `run` get their data: the user's files (absolute or relative paths), every
key of a space's data section, the demo only when nothing is named, and enough val classes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from study.data import cache_images, prepare_split, split_report
from study.run.plan import study_data_config
from study.run.runner import RunOptions, run_study
from study.single_run import train_config_file
from study.space.load import load_space
from tests.helpers import TINY_VIT
from tests.study.helpers import storage_url, write_space
from vitlab.cache import cache_size_for
from vitlab.config import DataConfig, load_train_config
from vitlab.errors import UserError
from vitlab.manifest import read_manifest
from vitlab.split import stratified_split, write_split


@pytest.fixture(scope="module")
def user_data(tmp_path_factory, tiny_manifest) -> dict:
    """The tiny dataset as a user has it: absolute image paths, no genus field, split files."""
    root = tmp_path_factory.mktemp("user")
    rows = [json.loads(line) for line in tiny_manifest.read_text().splitlines()]
    manifest = root / "plants.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"path": str(tiny_manifest.parent / r["path"]), "label": r["label"]}) + "\n"
            for r in rows
        )
    )
    split = stratified_split(read_manifest(manifest).records)
    write_split(split, root / "split")
    return {
        "manifest": str(manifest),
        "train": str(root / "split" / "train.jsonl"),
        "val": str(root / "split" / "val.jsonl"),
        "classes": len(split.classes),
    }


def space_with_data(folder: Path, data: dict, name: str = "tiny") -> Path:
    path = write_space(folder, trials=1, epochs=1)
    raw = yaml.safe_load(path.read_text())
    raw.update(name=name, data=data)
    path.write_text(yaml.safe_dump(raw))
    return path


def train_config(folder: Path, data: dict, **extra) -> Path:
    path = folder / "cfg" / "run.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "data": data,
        "model": "vit_tiny_patch16_224",
        "model_kwargs": TINY_VIT,
        "image_size": 16,
        "epochs": 1,
        "batch_size": 32,
        "device": "cpu",
        "threads": 1,
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("source", ["manifest", "split files"])
def test_absolute_data_paths_are_used_by_train_and_run(in_tmp, user_data, source):
    data = (
        {"manifest": user_data["manifest"]}
        if source == "manifest"
        else {"train": user_data["train"], "val": user_data["val"]}
    )
    n = user_data["classes"]
    assert n == 24  # the user's classes, not the demo's 200

    out = io.StringIO()
    train_config_file(train_config(in_tmp, data), out=out)
    assert f" train images of {n} classes" in out.getvalue(), out.getvalue()

    out = io.StringIO()
    study = run_study(
        RunOptions(space=space_with_data(in_tmp, data), storage=storage_url(in_tmp)), out=out
    )
    assert len(study.user_attrs["classes"]) == study.user_attrs["split_summary"]["classes"] == n
    assert "demo" not in out.getvalue(), out.getvalue()
    if source == "manifest":
        assert study.user_attrs["data_source"] == user_data["manifest"]
        assert f"split of {user_data['manifest']}" in out.getvalue()
        assert (in_tmp / "results/splits/plants/split_summary.json").is_file()
    assert not (in_tmp / "data" / "demo").exists()


def test_run_uses_every_key_of_the_space_data_section(in_tmp, user_data):
    # label_field: a field the manifest does not have is one line naming the file and field.
    space = space_with_data(in_tmp, {"manifest": user_data["manifest"], "label_field": "genus"})
    with pytest.raises(UserError) as info:
        run_study(RunOptions(space=space, storage=storage_url(in_tmp)), out=io.StringIO())
    message = str(info.value)
    assert user_data["manifest"] in message and "'genus'" in message and "\n" not in message
    # Fractions, seed and cache root are the space's; --data overrides only the source.
    cache = in_tmp / "my_cache"
    fields = {"split_seed": 3, "val_frac": 0.3, "test_frac": 0.0, "cache_root": str(cache)}
    space = space_with_data(in_tmp, {"manifest": "nowhere.jsonl", **fields})
    opts = RunOptions(space=space, data=Path(user_data["manifest"]), storage=storage_url(in_tmp))
    study = run_study(opts, out=io.StringIO())
    summary = study.user_attrs["split_summary"]
    assert (summary["seed"], summary["val_frac"], summary["test_frac"]) == (3, 0.3, 0.0)
    expected = stratified_split(
        read_manifest(user_data["manifest"]).records, seed=3, val_frac=0.3, test_frac=0.0
    )
    assert summary["images_per_split"]["val"] == len(expected.val)
    assert any(cache.iterdir())


def images(folder: Path, counts: dict[str, int]) -> Path:
    """Real PNG files, one colour per class, and a JSONL manifest listing them."""
    lines = []
    for k, (label, n) in enumerate(counts.items()):
        for i in range(n):
            path = folder / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 40), (40 * k, 255 - 9 * i, 100)).save(path)
            lines.append(json.dumps({"path": f"{label}/{i}.png", "label": label}) + "\n")
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(lines))
    return manifest


@pytest.mark.parametrize("command", ["run", "train"])
@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"rosa": 12}, "only 1 class (rosa) has val images"),
        ({"rosa": 1, "acer": 1, "ficus": 1}, "every class has a single image: no val split"),
    ],
    ids=["one class", "all singletons"],
)
def test_a_study_needs_two_classes_with_val_images(in_tmp, counts, message, command):
    manifest = images(in_tmp / "plants", counts)
    with pytest.raises(UserError) as info:
        if command == "run":
            space = space_with_data(in_tmp, {"manifest": str(manifest)})
            run_study(RunOptions(space=space, storage=storage_url(in_tmp)), out=io.StringIO())
        else:
            config = train_config(in_tmp, {"manifest": str(manifest)})
            train_config_file(config, out=io.StringIO())
    assert message in str(info.value) and str(manifest) in str(info.value), info.value
    assert "failed.tsv" not in str(info.value)
    assert not (in_tmp / "studies.db").exists()  # checked before the storage is opened


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("weights/w.pt", "{base}/weights/w.pt"),
        ("{elsewhere}/w.pt", "{elsewhere}/w.pt"),
        ("hub", "hub"),
        ("augreg_in21k", "augreg_in21k"),
        ("none", None),
        (None, None),
    ],
)
@pytest.mark.parametrize("where", ["train config", "search space"])
def test_pretrained_resolves_against_the_yaml_like_data(in_tmp, given, expected, where):
    folder = in_tmp / "cfg"
    folder.mkdir()
    elsewhere = str(in_tmp / "elsewhere")
    given = given and given.format(elsewhere=elsewhere)
    expected = expected and expected.format(base=folder, elsewhere=elsewhere)
    if where == "train config":
        config = load_train_config(train_config(in_tmp, {}, pretrained=given))
    else:
        path = write_space(folder)
        raw = yaml.safe_load(path.read_text())
        raw["fixed"]["pretrained"] = given
        path.write_text(yaml.safe_dump(raw))
        space = load_space(path)
        config = space.train_config(space.baseline)
    assert config.pretrained == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"test": Path("t.jsonl")}, "--test goes with --train and --val"),
        ({"data": Path("m.jsonl"), "test": Path("t.jsonl")}, "--test goes with --train and --val"),
        ({"train": Path("a.jsonl")}, "--train and --val go together"),
    ],
    ids=["test alone", "test with a manifest", "train without val"],
)
def test_run_refuses_split_flags_it_would_ignore(in_tmp, given, message):
    """A --test the run would drop silently is an error, before any data or storage is read."""
    space = load_space(write_space(in_tmp))
    with pytest.raises(UserError, match=message):
        study_data_config(RunOptions(space=space.source, **given), space)


def test_split_report_says_what_was_skipped_dropped_and_written(tmp_path, user_data):
    manifest = tmp_path / "plants.jsonl"
    lines = Path(user_data["manifest"]).read_text().splitlines()
    gone = json.dumps({"path": str(tmp_path / "gone.png"), "label": json.loads(lines[0])["label"]})
    manifest.write_text("\n".join([*lines, lines[0], gone]) + "\n")
    out = tmp_path / "split"
    report = split_report(prepare_split(DataConfig(manifest=str(manifest), split_seed=3), out))
    lines = report.splitlines()
    assert lines[0] == f"split of {manifest} (seed 3)"
    assert lines[-3:] == [
        f"skipped 1 missing image file(s): listed in {out / 'missing_images.txt'}",
        "dropped 1 duplicate line(s)",
        f"wrote {out}/{{train,val,test}}.jsonl and split_summary.json",
    ]


def test_split_report_refuses_split_files_it_did_not_write(user_data):
    prepared = prepare_split(DataConfig(train=user_data["train"], val=user_data["val"]))
    with pytest.raises(ValueError, match="split files were given"):
        split_report(prepared)


@pytest.mark.parametrize(("image_size", "cache_size"), [(16, None), (16, 24)])
def test_cache_images_stores_every_manifest_image_at_the_side_crops_need(
    tmp_path, user_data, image_size, cache_size
):
    root = tmp_path / "cache"
    data = DataConfig(manifest=user_data["manifest"], cache_root=str(root))
    line = cache_images(data, image_size, cache_size=cache_size, workers=0)
    images = len(Path(user_data["manifest"]).read_text().splitlines())
    side = cache_size or cache_size_for(image_size)
    assert re.fullmatch(
        rf"cache ({re.escape(str(root))}/\S+): {images:,} images at {side}x{side}, 0 unreadable "
        r"\(listed in \1/failed.tsv\)",
        line,
    ), line
