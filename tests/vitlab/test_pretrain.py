"""Local pretrained weights: a disjoint pretraining set, and a weights file timm loads."""

from __future__ import annotations

import dataclasses

import torch

from vitlab.demo import DemoSpec
from vitlab.models import create_model
from vitlab.pretrain import PRETRAIN_SPEC, pretrain, pretrain_config
from vitlab.species import HUES, class_names
from vitlab.train import Trainer


def hue_bands(spec: DemoSpec) -> list[tuple[float, float]]:
    """The [low, high] hue interval each genus colour is drawn from (before wrapping): the band
    centre plus the offset, +- the jitter, as ``vitlab.species.render_image`` draws it."""
    return [
        (h + spec.hue_offset - spec.hue_jitter, h + spec.hue_offset + spec.hue_jitter)
        for _, h in HUES
    ]


def test_pretraining_colours_never_overlap_the_demo_colours():
    demo, other = hue_bands(DemoSpec()), hue_bands(PRETRAIN_SPEC)
    for lo, hi in other:
        for dlo, dhi in demo:
            # Compare on the hue circle: shift by -1, 0, +1 turns.
            assert all(hi + k <= dlo or lo + k >= dhi for k in (-1, 0, 1)), (lo, hi, dlo, dhi)


def test_pretraining_labels_are_disjoint_from_the_demo():
    demo = {class_names(c)["label"] for c in range(200)}
    other = {class_names(c, PRETRAIN_SPEC.hue_offset)["label"] for c in range(200)}
    assert len(demo) == len(other) == 200 and not demo & other
    genera = {class_names(c, PRETRAIN_SPEC.hue_offset)["genus"] for c in range(200)}
    assert not genera & {class_names(c)["genus"] for c in range(200)}
    assert all(g.startswith("Inter") for g in genera)
    assert {h for h, _ in HUES} == {"Rubro", "Flavo", "Viridi", "Caeruleo", "Purpureo"}


def test_hue_offset_changes_only_the_colour():
    a = make_spec_image(DemoSpec())
    b = make_spec_image(DemoSpec(hue_offset=0.07))
    assert a.shape == b.shape and not (a == b).all()
    # Same rng, same geometry: the object's mask is where both differ from the background.
    assert (a == b).mean() > 0.3


def make_spec_image(spec: DemoSpec):
    import numpy as np

    from vitlab.species import render_image

    return render_image(3, np.random.default_rng([0, 3, 0]), spec)


def test_pretrain_writes_the_best_epoch_and_a_new_head_loads_it(
    tiny_config, pretrain_manifest, tmp_path
):
    config = pretrain_config(tiny_config, pretrain_manifest, epochs=2)
    assert config.pretrained is None and config.epochs == 2
    assert config.data.manifest == str(pretrain_manifest)
    out = tmp_path / "weights" / "tiny.pt"
    epochs = pretrain(config, out)
    first = next(epochs)
    assert first.epoch == 1 and not out.exists()  # only a finished run leaves a file
    rest = list(epochs)
    assert [m.epoch for m in rest] == [2]
    assert out.is_file() and not (tmp_path / "weights" / ".tiny-checkpoints").exists()
    saved = torch.load(out, map_location="cpu", weights_only=False)
    assert saved["metrics"]["val_top1"] == max(first.val_top1, rest[0].val_top1)
    # The demo-sized head differs from the pretraining set's 12 classes: timm replaces it and
    # every other tensor is the file's.
    model = create_model(
        config.model,
        num_classes=24,
        pretrained=out,
        img_size=config.image_size,
        **config.model_kwargs,
    )
    state = model.state_dict()
    assert state["head.weight"].shape[0] == 24 and saved["model"]["head.weight"].shape[0] == 12
    for key, value in saved["model"].items():
        if not key.startswith("head."):
            assert torch.equal(state[key], value), key


def test_fine_tuning_from_the_file_starts_where_pretraining_left_off(
    tiny_config, pretrain_manifest, tmp_path
):
    out = tmp_path / "w.pt"
    list(pretrain(pretrain_config(tiny_config, pretrain_manifest, epochs=2), out))
    scratch = Trainer(dataclasses.replace(tiny_config, epochs=1), progress=False)
    tuned = Trainer(dataclasses.replace(tiny_config, epochs=1, pretrained=str(out)), progress=False)
    blocks = "blocks.0.attn.qkv.weight"
    saved = torch.load(out, map_location="cpu", weights_only=False)["model"][blocks]
    assert torch.equal(tuned.model.state_dict()[blocks], saved)
    assert not torch.equal(scratch.model.state_dict()[blocks], saved)
