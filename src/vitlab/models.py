"""Model factory over timm: any timm model name, local or hub pretrained weights, a parameter count.

``pretrained`` may be None (random init), a local weights file (.pth/.pt/.bin/.safetensors, a bare
state dict or one wrapped under "model"/"state_dict" as our training loop saves it), or "hub" / a
timm pretrained tag (e.g. "augreg_in21k") for the Hugging Face hub. The hub is never waited on:
offline, :class:`ModelError` says so at once and asks for a local file instead.
"""

from __future__ import annotations

import difflib
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import timm.data
import torch
from timm.models import get_model_traits, get_pretrained_cfg, load_state_dict

from vitlab.errors import UserError

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".pth.tar")
HUB_PROBE_TIMEOUT_S = 3.0


class ModelError(UserError):
    """A model name, model argument or pretrained-weights source that cannot be used."""


def check_model_name(name: str) -> None:
    """Raise ModelError (with close matches) unless ``name`` or ``arch.tag`` is known to timm."""
    arch, _, tag = name.partition(".")
    models = timm.list_models()
    if arch not in models:
        close = difflib.get_close_matches(arch, models, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see timm.list_models())"
        raise ModelError(f"unknown model {arch!r}{hint}")
    if tag:
        tags = _pretrained_tags(arch)
        if tag not in tags:
            raise ModelError(f"unknown pretrained tag {tag!r} for {arch}; known tags: {_fmt(tags)}")


def check_pretrained(name: str, pretrained: str | Path | bool | None) -> str | None:
    """What ``create_model`` would load for ``pretrained`` ("hub:arch.tag", a file or None),
    checked without building the model: ModelError for a missing file, an unknown tag, or hub
    weights that are not cached on a machine that cannot reach the hub (the same one-line error a
    trial would raise)."""
    check_model_name(name)
    source = _pretrained_source(name, pretrained)
    if isinstance(source, str):
        _check_hub(source)
        return f"hub:{source}"
    return None if source is None else str(source)


def create_model(
    name: str,
    *,
    num_classes: int,
    pretrained: str | Path | bool | None = None,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    **model_kwargs: Any,
) -> torch.nn.Module:
    """Create timm model ``name`` with a ``num_classes`` head, optionally from pretrained weights.

    ``drop_rate`` is the dropout before the classifier head, ``drop_path_rate`` the stochastic
    depth of the last block (timm ramps it up linearly from 0 over the blocks). ``model_kwargs``
    go to the model unchanged (e.g. ``img_size=32, patch_size=4, depth=2`` for a tiny ViT).
    """
    for label, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if not 0.0 <= rate < 1.0:  # also rejects NaN
            raise ValueError(f"{label} must be in [0, 1), got {rate!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
    check_model_name(name)
    kwargs = dict(num_classes=num_classes, drop_rate=drop_rate, drop_path_rate=drop_path_rate)
    kwargs.update(model_kwargs)

    source = _pretrained_source(name, pretrained)
    if source is None:
        return _build(name, kwargs)
    if isinstance(source, Path):
        return _from_file(name, source, kwargs)
    return _from_hub(source, kwargs)


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared ones once), optionally only those with requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def data_config(model: torch.nn.Module) -> dict[str, Any]:
    """Input size, interpolation, mean/std and crop of ``model``, as its pretrained weights expect.

    timm takes input_size from the pretrained cfg (224 for vit_*_224) even when the model was built
    with another ``img_size``; the size the model was actually built for wins here.
    """
    config = dict(timm.data.resolve_model_data_config(model))
    traits = get_model_traits(model)
    if traits.get("img_size"):
        in_chans = traits.get("in_chans", config["input_size"][0])
        config["input_size"] = (in_chans, *traits["img_size"])
    return config


# -- internals -------------------------------------------------------------------------------


def _fmt(items: list[str], limit: int = 8) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return (", ".join(items[:limit]) + more) if items else "none"


def _short(error: BaseException, limit: int = 300) -> str:
    """One line of an exception; torch's load_state_dict errors list every key otherwise."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_weights_path(text: str) -> bool:
    """Whether a ``pretrained`` value names a local file (a path or a weights suffix), not
    ``hub`` or a timm tag."""
    return "/" in text or os.sep in text or text.endswith(WEIGHT_SUFFIXES)


def _pretrained_tags(arch: str) -> list[str]:
    return [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]


def _pretrained_source(name: str, pretrained: str | Path | bool | None) -> Path | str | None:
    """None (random init), a Path (local file) or the ``arch.tag`` to fetch from the hub."""
    if pretrained is None or pretrained is False:
        return None
    arch, _, name_tag = name.partition(".")
    if pretrained is True:
        pretrained = "hub"  # a YAML `pretrained: true`
    text = str(pretrained).strip()
    if text.lower() in ("", "none"):
        return None
    tags = _pretrained_tags(arch)
    if not isinstance(pretrained, Path) and (text == "hub" or text in tags):
        tag = name_tag if text == "hub" else text
        if not tags:
            raise ModelError(
                f"timm has no pretrained weights for {arch}; pass a local weights file"
            )
        return f"{arch}.{tag}" if tag else arch
    path = Path(text).expanduser()
    if not path.is_file():
        hint = (
            f" (nor a pretrained tag of {arch}: {_fmt(tags)})" if not is_weights_path(text) else ""
        )
        raise ModelError(f"pretrained weights file not found: {path}{hint}")
    if not path.name.endswith(WEIGHT_SUFFIXES):
        raise ModelError(f"{path}: weights must be one of {', '.join(WEIGHT_SUFFIXES)}")
    return path


def _build(name: str, kwargs: dict[str, Any], **timm_kwargs: Any) -> torch.nn.Module:
    """timm.create_model, with bad model arguments turned into a ModelError naming them."""
    try:
        return timm.create_model(name, **timm_kwargs, **kwargs)
    except (TypeError, AssertionError) as e:
        # timm forwards unknown kwargs to the model's __init__ (TypeError); impossible shapes,
        # e.g. embed_dim not divisible by num_heads, fail asserts inside it.
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ModelError(f"invalid arguments for model {name} ({args}): {_short(e)}") from e


def _from_file(name: str, path: Path, kwargs: dict[str, Any]) -> torch.nn.Module:
    """Load a local checkpoint through timm's pretrained machinery; replace a mismatched head.

    timm drops the classifier (and loads non-strict) whenever num_classes differs from the
    pretrained cfg's num_classes, which is the hub weights' (1000), not the file's. So the file's
    head size goes into the cfg: an equal head loads strictly, a different one is re-initialised.
    """
    try:
        # timm's loader: safetensors or torch.load(weights_only), unwraps "state_dict"/"model"
        # (prefers an EMA copy if present) and strips DDP/compile prefixes.
        state_dict = load_state_dict(str(path))
    except Exception as e:
        raise ModelError(f"cannot read weights from {path}: {_short(e)}") from e
    cfg = get_pretrained_cfg(name)
    heads = cfg.classifier if cfg and cfg.classifier else ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    head_weight = state_dict.get(f"{heads[0]}.weight") if heads else None
    file_classes = int(head_weight.shape[0]) if head_weight is not None else 0
    overlay = dict(
        file=str(path),  # recorded in model.pretrained_cfg; state_dict takes precedence for loading
        state_dict=state_dict,
        num_classes=file_classes,
        custom_load=False,  # a .npz-style loader of the hub cfg must not see our file
    )
    try:
        model = _build(name, kwargs, pretrained=True, pretrained_cfg_overlay=overlay)
    except RuntimeError as e:
        raise ModelError(f"weights in {path} do not fit model {name}: {_short(e)}") from e
    model.pretrained_cfg.pop("state_dict", None)  # else it keeps a second copy of all weights
    if heads and file_classes != kwargs["num_classes"]:
        # timm loaded non-strict: make sure only the classifier was left out, both ways.
        skip = tuple(f"{h}." for h in heads)
        model_keys = {k for k in model.state_dict() if not k.startswith(skip)}
        file_keys = {k for k in state_dict if not k.startswith(skip)}
        for what, keys in (
            ("missing", model_keys - file_keys),
            ("unexpected", file_keys - model_keys),
        ):
            if keys:
                raise ModelError(
                    f"weights in {path} do not fit model {name}: {len(keys)} tensors {what} "
                    f"({_fmt(sorted(keys), 4)})"
                )
    return model


def _check_hub(name_tag: str) -> None:
    """ModelError at once unless the hub weights are cached or the hub can be reached."""
    if _hub_cached(get_pretrained_cfg(name_tag)):
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if offline or not _hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "no network connection"
        raise ModelError(
            f"cannot reach the Hugging Face hub for {name_tag} weights ({why}); pass a local "
            "weights file instead (pretrained: /path/weights.safetensors)"
        )


def _from_hub(name_tag: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    _check_hub(name_tag)
    try:
        return _build(name_tag, kwargs, pretrained=True)
    except (OSError, RuntimeError, ValueError) as e:
        raise ModelError(
            f"cannot load pretrained weights {name_tag} from the hub: {_short(e)}"
        ) from e


def _hub_cached(cfg: Any) -> bool:
    """Whether the hub weights are already in the local HF cache (usable offline)."""
    if cfg is None or not cfg.hf_hub_id:
        return False
    from huggingface_hub import try_to_load_from_cache

    files = ("model.safetensors", cfg.hf_hub_filename or "pytorch_model.bin")
    return any(isinstance(try_to_load_from_cache(cfg.hf_hub_id, f), str) for f in files)


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Quick TCP probe of the hub (or the HTTPS proxy), bounded even if DNS itself hangs."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    address = (url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80))
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    # getaddrinfo ignores the socket timeout, so the join bounds the whole probe.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)
