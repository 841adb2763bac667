"""The GPU space sweeps hub weights; `run` checks them before any trial, offline, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from timm.models import get_pretrained_cfg

from study.run.preflight import check_weights
from study.run.runner import RunOptions, run_study
from study.space.load import load_space
from tests.study.helpers import storage_url, write_space
from vitlab.errors import UserError
from vitlab.models import ModelError, check_pretrained, create_model

GPU_SPACE = Path(__file__).resolve().parents[2] / "search_spaces/vit_regularization.yaml"


@pytest.fixture
def offline_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with no network and an empty Hugging Face cache (a real, empty cache folder)."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def cache_weights(cache: Path, model: str) -> None:
    """Lay out timm's default weights of ``model`` in ``cache`` as huggingface_hub does."""
    repo = cache / ("models--" + get_pretrained_cfg(model).hf_hub_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "model.safetensors").write_bytes(b"")


def test_gpu_space_sweeps_hub_weights_and_run_checks_them_first(
    offline_empty_cache: Path, tmp_path: Path
) -> None:
    space = load_space(GPU_SPACE)  # offline: loading needs no network
    choices = {p.name: p.choices for p in space.params}
    assert choices["pretrained"] == ("none", "hub")
    # The YAML names timm's default tag of every model choice.
    text = GPU_SPACE.read_text()
    for model in choices["model"] or ():
        tag = get_pretrained_cfg(model).tag
        assert any(model in line and f" {tag} " in f"{line} " for line in text.splitlines())

    # No cached copy, no network: `run` stops before any trial, with the offline error.
    with pytest.raises(UserError) as info:
        check_weights(space)
    message = str(info.value)
    assert "\n" not in message and str(GPU_SPACE) in message
    assert "cannot reach the Hugging Face hub" in message and "HF_HUB_OFFLINE is set" in message
    with pytest.raises(ModelError, match="cannot reach the Hugging Face hub"):  # so would a trial
        create_model("vit_tiny_patch16_224", num_classes=3, pretrained="hub")

    # Cached on this machine, every model: usable offline, and the check passes.
    for model in choices["model"] or ():
        cache_weights(offline_empty_cache, model)
    check_weights(space)
    assert check_pretrained("vit_base_patch16_224", "hub") == "hub:vit_base_patch16_224"


def test_run_refuses_uncached_hub_weights_before_a_trial(
    offline_empty_cache: Path, tmp_path: Path, tiny_manifest: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_space(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["params"]["pretrained"] = {"type": "categorical", "choices": ["none", "hub"]}
    raw["baseline"]["pretrained"] = "none"
    path.write_text(yaml.safe_dump(raw))
    url = storage_url(tmp_path)
    with pytest.raises(
        UserError,
        match="pretrained .hub. for vit_tiny_patch16_224: cannot reach the Hugging Face hub",
    ):
        run_study(RunOptions(space=path, data=tiny_manifest, storage=url))
    assert not (tmp_path / "studies.db").exists()  # no study, no trial was started
