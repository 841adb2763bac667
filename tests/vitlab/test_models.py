"""Model factory: tiny ViTs on CPU, local pretrained files, offline hub, parameter counts."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from timm.layers import DropPath

from vitlab.errors import UserError
from vitlab.models import (
    ModelError,
    check_model_name,
    check_pretrained,
    count_parameters,
    create_model,
    data_config,
)

VIT = "vit_tiny_patch16_224"
TINY = dict(img_size=32, patch_size=4, depth=2, embed_dim=32, num_heads=2)


def tiny(num_classes: int = 5, **kwargs) -> torch.nn.Module:
    return create_model(VIT, num_classes=num_classes, **{**TINY, **kwargs})


def assert_same(actual: dict, expected: dict, skip: tuple[str, ...] = ()) -> None:
    keys = [k for k in expected if not k.startswith(skip)]
    assert keys and set(keys) <= set(actual)
    for k in keys:
        assert torch.equal(actual[k], expected[k]), k


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("num_classes", [1, 7, 100])
@pytest.mark.parametrize("batch", [1, 3])
def test_forward_shape(num_classes: int, batch: int) -> None:
    model = tiny(num_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(batch, 3, 32, 32))
    assert out.shape == (batch, num_classes)
    assert model.head.weight.shape == (num_classes, 32)


@pytest.mark.parametrize(
    ("drop_rate", "drop_path_rate", "depth"),
    [(0.0, 0.0, 2), (0.3, 0.1, 2), (0.5, 0.25, 4)],
)
def test_dropout_on_head_and_stochastic_depth_on_blocks(
    drop_rate: float, drop_path_rate: float, depth: int
) -> None:
    model = tiny(drop_rate=drop_rate, drop_path_rate=drop_path_rate, depth=depth)
    assert model.head_drop.p == drop_rate
    probs = [
        m.drop_prob if isinstance(m, DropPath) else 0.0
        for block in model.blocks
        for m in (block.drop_path1, block.drop_path2)
    ]
    # timm ramps stochastic depth linearly over the blocks: 0 at the first, the rate at the last.
    assert probs[0] == 0.0
    assert probs[-1] == pytest.approx(drop_path_rate)
    assert probs == sorted(probs)


@pytest.mark.parametrize("field", ["drop_rate", "drop_path_rate"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan")])
def test_rates_outside_unit_interval_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as info:
        tiny(**{field: value})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("vit_smal_patch16_224", "vit_small_patch16_224"),
        ("vit_tiny_patch16_244", "vit_tiny_patch16_224"),
        ("vit_base_patch61_224", "vit_base_patch16_224"),
    ],
)
def test_unknown_name_lists_close_matches(typo: str, expected: str) -> None:
    with pytest.raises(ModelError, match="did you mean") as info:
        create_model(typo, num_classes=3)
    assert typo in str(info.value) and expected in str(info.value)
    assert isinstance(info.value, UserError)


def test_unknown_name_and_tag() -> None:
    with pytest.raises(ModelError, match="unknown model 'zzzz_qqqq'"):
        check_model_name("zzzz_qqqq")
    with pytest.raises(ModelError, match="augreg_in21k"):
        check_model_name("vit_small_patch16_224.bogus")
    check_model_name("vit_small_patch16_224.augreg_in21k")


@pytest.mark.parametrize(
    "kwargs",
    [dict(not_a_vit_arg=1), dict(embed_dim=30, num_heads=4)],
)
def test_bad_model_kwargs(kwargs: dict) -> None:
    with pytest.raises(ModelError, match=VIT) as info:
        tiny(**kwargs)
    for key in kwargs:
        assert key in str(info.value)


# -- pretrained from a local file ------------------------------------------------------------


def save(state_dict: dict[str, torch.Tensor], path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        torch.save(state_dict, path)
    return path


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".bin"])
def test_local_file_same_classes_loads_every_weight(tmp_path: Path, suffix: str) -> None:
    source = tiny(5).state_dict()
    path = save(source, tmp_path / f"w{suffix}")
    torch.manual_seed(123)  # a different init than the file's
    model = create_model(VIT, num_classes=5, pretrained=path, **TINY)
    # The head too: timm alone would re-initialise it (5 != the hub cfg's 1000 classes).
    assert_same(model.state_dict(), source)
    assert check_pretrained(VIT, path) == str(path)  # what the runner records as loaded
    assert "state_dict" not in model.pretrained_cfg  # no second copy of the weights kept


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize(("file_classes", "classes"), [(10, 7), (10, 1000), (1000, 3)])
def test_local_file_other_classes_replaces_head(
    tmp_path: Path, suffix: str, file_classes: int, classes: int
) -> None:
    source = tiny(file_classes).state_dict()
    path = save(source, tmp_path / f"w{suffix}")
    model = create_model(VIT, num_classes=classes, pretrained=str(path), **TINY)
    assert_same(model.state_dict(), source, skip=("head.",))
    assert model.head.weight.shape == (classes, 32)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, classes)


@pytest.mark.parametrize("key", ["model", "state_dict"])
def test_wrapped_checkpoint(tmp_path: Path, key: str) -> None:
    source = tiny(4).state_dict()
    path = tmp_path / "ckpt.pt"
    torch.save({key: source, "epoch": 3, "best_acc": 0.5}, path)
    model = create_model(VIT, num_classes=4, pretrained=path, **TINY)
    assert_same(model.state_dict(), source)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])  # DDP / torch.compile wrappers
def test_wrapper_prefixes_stripped(tmp_path: Path, prefix: str) -> None:
    source = tiny(4).state_dict()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {prefix + k: v for k, v in source.items()}}, path)
    assert_same(create_model(VIT, num_classes=4, pretrained=path, **TINY).state_dict(), source)


def test_ema_copy_preferred(tmp_path: Path) -> None:
    # timm's loader takes "model_ema" / "state_dict_ema" over "model" when both are saved.
    model, ema = tiny(4).state_dict(), tiny(4).state_dict()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model, "model_ema": ema}, path)
    assert_same(create_model(VIT, num_classes=4, pretrained=path, **TINY).state_dict(), ema)


@pytest.mark.parametrize("none", [None, "none", "", False])
def test_no_pretrained_is_random_init(none) -> None:
    torch.manual_seed(0)
    model = create_model(VIT, num_classes=2, pretrained=none, **TINY)
    torch.manual_seed(0)
    assert_same(model.state_dict(), tiny(2).state_dict())  # the seed's init, nothing loaded
    assert check_pretrained(VIT, none) is None


@pytest.mark.parametrize("name", ["missing.pth", "sub/dir/w.safetensors", "augreg_typo"])
def test_missing_file_names_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(ModelError, match="not found") as info:
        create_model(VIT, num_classes=2, pretrained=str(path), **TINY)
    assert str(path) in str(info.value)


def test_bare_word_that_is_no_tag_lists_tags() -> None:
    with pytest.raises(ModelError, match="augreg_in21k"):
        create_model("vit_small_patch16_224", num_classes=2, pretrained="augreg_typo")


@pytest.mark.parametrize("other", [dict(embed_dim=64), dict(depth=1), dict(depth=3)])
@pytest.mark.parametrize("classes", [5, 7])  # 5: strict load; 7: non-strict after dropping head
def test_file_for_another_model_is_a_model_error(tmp_path: Path, other: dict, classes: int) -> None:
    path = save(tiny(5, **other).state_dict(), tmp_path / "w.pth")
    with pytest.raises(ModelError, match="do not fit") as info:
        create_model(VIT, num_classes=classes, pretrained=path, **TINY)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights") as info:
        create_model(VIT, num_classes=2, pretrained=path, **TINY)
    assert str(path) in str(info.value)


# -- hub, offline ----------------------------------------------------------------------------


@pytest.mark.parametrize("pretrained", ["hub", "augreg_in21k", True])
def test_hub_offline_env_fails_fast(monkeypatch: pytest.MonkeyPatch, pretrained) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("vitlab.models._hub_cached", lambda cfg: False)
    start = time.monotonic()
    with pytest.raises(ModelError, match="Hugging Face hub") as info:
        create_model("vit_small_patch16_224", num_classes=3, pretrained=pretrained)
    assert time.monotonic() - start < 5
    assert "weights.safetensors" in str(info.value)


def test_hub_cache_lookup_runs_offline() -> None:
    from timm.models import get_pretrained_cfg

    from vitlab.models import _hub_cached

    assert _hub_cached(get_pretrained_cfg("vit_small_patch16_224")) in (True, False)
    assert _hub_cached(None) is False


def test_hub_unreachable_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setattr("vitlab.models._hub_cached", lambda cfg: False)
    monkeypatch.setattr(socket, "create_connection", no_network)
    start = time.monotonic()
    with pytest.raises(ModelError, match="no network"):
        create_model("vit_small_patch16_224", num_classes=3, pretrained="hub")
    assert time.monotonic() - start < 5


# -- counts and data config -----------------------------------------------------------------


@pytest.mark.parametrize("trainable_only", [False, True])
def test_count_parameters_is_sum_of_numel(trainable_only: bool) -> None:
    model = tiny(5)
    assert count_parameters(model, True) == count_parameters(model) > 0  # nothing frozen yet
    model.patch_embed.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    assert count_parameters(model, trainable_only) == sum(p.numel() for p in params)
    assert count_parameters(model, True) < count_parameters(model)


@pytest.mark.parametrize(
    ("name", "num_classes", "expected"),
    [
        ("vit_tiny_patch16_224", 1000, 5_717_416),
        ("vit_small_patch16_224", 1000, 22_050_664),
        ("vit_base_patch16_224", 1000, 86_567_656),
        ("vit_base_patch16_224", 5914, 90_346_522),
        # the seed analysis's 90,088,138 is vit_base with a 5,578-class head (768 + 1 per class)
        ("vit_base_patch16_224", 5578, 90_088_138),
    ],
)
def test_known_parameter_counts(name: str, num_classes: int, expected: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = create_model(name, num_classes=num_classes)
    assert count_parameters(model) == expected


def test_data_config_follows_pretrained_cfg_and_built_size() -> None:
    config = data_config(tiny(3))
    assert config["input_size"] == (3, 32, 32)  # the built img_size, not the cfg's 224
    assert config["mean"] == (0.5, 0.5, 0.5) and config["std"] == (0.5, 0.5, 0.5)  # augreg
    with torch.device("meta"):
        config = data_config(create_model("vit_small_patch16_224.dino", num_classes=3))
    assert config["input_size"] == (3, 224, 224)
    assert config["mean"] == pytest.approx((0.485, 0.456, 0.406))  # ImageNet stats for dino
