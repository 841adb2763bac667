"""Device choice and the per-device details: autocast, memory format, compile, host transfers."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from vitlab.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; asking for an absent device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"device {name!r} asked for, but torch sees no CUDA GPU "
            f"(torch {torch.__version__}); use --device cpu or auto"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' asked for, but this torch has no MPS support")
    return torch.device(name)


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    compile: bool = False

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def sync_every(self) -> int:
        """Steps between loss checks: each check waits for the GPU, a CPU never waits."""
        return 25 if self.device.type in ("cuda", "mps") else 1

    def autocast(self) -> AbstractContextManager[object]:
        # bf16 needs no loss scaling and is what current GPUs train in; CPU stays fp32 (exact
        # and reproducible, and CPU bf16 is rarely faster).
        if self.is_cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        if self.is_cuda:  # pinned memory makes the copy asynchronous
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

    def channels_last(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.is_cuda else x

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        if self.is_cuda:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            model = torch.compile(model)
        return model

    @staticmethod
    def unwrap(model: torch.nn.Module) -> torch.nn.Module:
        """The module whose state_dict has plain keys (torch.compile wraps it)."""
        return getattr(model, "_orig_mod", model)


def setup_device(
    name: str = "auto", *, compile: bool = False, threads: int | None = None
) -> DeviceSetup:
    device = resolve_device(name)
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return DeviceSetup(device, compile=compile)
