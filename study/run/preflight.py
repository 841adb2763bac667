"""Checks before a study's data is read: every weights file and hub weight a trial may load is
there. Without them every such trial would fail, one by one, after the slow data loading."""

from __future__ import annotations

from pathlib import Path

from study.space.spec import SearchSpace
from vitlab.errors import UserError
from vitlab.models import ModelError, check_pretrained

__all__ = ["check_hub_weights", "check_weights"]


def check_weights(space: SearchSpace) -> None:
    """Every local weights file a trial may load exists: else every such trial would fail."""
    missing = [str(f) for f in space.weights_files() if not f.is_file()]
    if missing:
        raise UserError(
            f"{space.source}: pretrained weights not found: {', '.join(missing)}; make them "
            f"with: python -m study pretrain --space {space.source}"
        )
    check_hub_weights(space)


def check_hub_weights(space: SearchSpace) -> None:
    """Every hub weight a trial may load is cached, or the hub is reachable: else every such
    trial would fail (offline, after its data is loaded). Loading the space never needs this."""
    choices = {p.name: list(p.choices or ()) for p in space.params if p.type == "categorical"}
    models = choices.get("model") or [space.baseline.get("model")]
    for weights in sorted(
        {space.baseline.get("pretrained"), *choices.get("pretrained", ())}, key=str
    ):
        for model in models:
            params = {**space.baseline, "pretrained": weights, "model": model}
            config = space.train_config({k: v for k, v in params.items() if v is not None})
            if config.pretrained is None or Path(config.pretrained).is_file():
                continue
            try:
                check_pretrained(config.model, config.pretrained)
            except ModelError as e:
                hint = (
                    ", or drop it from params.pretrained.choices" if "pretrained" in choices else ""
                )
                where = f"{space.source}: pretrained {config.pretrained!r} for {config.model}"
                raise UserError(f"{where}: {e}{hint}") from None
