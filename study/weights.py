"""``python -m study pretrain``: make a search space's local pretrained weights, offline.

For each model preset of a ``pretrained_weights`` set, the space's baseline recipe on that model
is trained on the pretraining data (by default the demo's disjoint pretraining classes, see
:mod:`vitlab.pretrain`) and its best epoch is written to the file the space names. Existing files
are kept unless ``force``, so a second call does nothing.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TextIO

from study.single_run import format_epoch
from study.space.load import load_space
from study.space.spec import SearchSpace
from vitlab.errors import UserError
from vitlab.pretrain import pretrain, pretrain_config, pretrain_manifest

# The pretraining recipe over the space's baseline: mild regularization, since the pretraining
# set is plentiful and only its features are kept.
RECIPE = {"weight_decay": 0.05, "label_smoothing": 0.1, "drop_rate": 0.0, "aug_strength": 0.25}
DEFAULT_EPOCHS = 40


def weights_set(space: SearchSpace, name: str | None) -> tuple[str, dict[str, str]]:
    sets = space.pretrained_weights
    if not sets:
        raise UserError(f"{space.source}: has no pretrained_weights section")
    if name is None:
        if len(sets) > 1:
            raise UserError(f"{space.source}: several pretrained_weights; pick one with --weights")
        name = next(iter(sets))
    if name not in sets:
        raise UserError(
            f"{space.source}: no pretrained_weights {name!r} (it has: {', '.join(sets)})"
        )
    return name, dict(sets[name])


def make_weights(
    space_path: Path,
    *,
    name: str | None = None,
    models: list[str] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    manifest: Path | None = None,
    threads: int | None = None,
    force: bool = False,
    out: TextIO = sys.stdout,
) -> dict[str, Path]:
    """Train every missing weights file of the set; return preset -> file."""
    space = load_space(space_path)
    name, files = weights_set(space, name)
    for preset in models or []:
        if preset not in files:
            raise UserError(f"pretrained_weights.{name} has no model {preset!r}")
    data = manifest or pretrain_manifest()
    written: dict[str, Path] = {}
    for preset, file in files.items():
        path = Path(file)
        if models and preset not in models:
            continue
        if path.exists() and not force:
            print(f"{path} exists (--force to retrain)", file=out)
            written[preset] = path
            continue
        # The baseline recipe on this model, from scratch, with the pretraining regularization.
        base = space.train_config(
            {**space.baseline, **RECIPE, "model": preset, "pretrained": "none"}
        )
        if threads:
            base = dataclasses.replace(base, threads=threads)
        config = pretrain_config(base, data, epochs)
        print(
            f"pretraining {preset} ({config.model}) on {data} for {epochs} epochs -> {path}",
            file=out,
            flush=True,
        )
        start = time.perf_counter()
        for m in pretrain(config, path):
            print(format_epoch(m, epochs), file=out, flush=True)
        print(f"wrote {path} in {time.perf_counter() - start:.0f}s", file=out, flush=True)
        written[preset] = path
    return written
