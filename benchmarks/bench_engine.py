"""Benchmark: the engine's training throughput against a bare, minimal PyTorch loop.

    python benchmarks/bench_engine.py                      # CPU: a ViT shrunk to 32 px
    python benchmarks/bench_engine.py --device cuda --image-size 224 \
        --model vit_small_patch16_224 --full-size --batch 256

Same model, same batch size, same images, no augmentation (strength 0: centre crop + flip). The
bare loop trains on a pre-normalised float tensor already in memory and does nothing else: forward,
cross-entropy, backward, AdamW step. The engine reads uint8 rows from the (page-cached) image cache,
augments and normalises on the device, steps timm's AdamW and cosine schedule, and checks the loss.
Epochs alternate between the two, so a change in machine load hits both; the ratio of median
training images/s is printed (target >= 0.9 on CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F

from vitlab.augment import eval_batch
from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.models import create_model
from vitlab.train import Trainer


def bare_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    device: torch.device,
) -> float:
    """Images/s of one epoch of the simplest correct training loop."""
    model.train()
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    steps = len(x) // batch
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
        with autocast:
            loss = F.cross_entropy(model(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="vit_tiny_patch16_224")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument(
        "--full-size",
        action="store_true",
        help="the model as timm defines it (default: shrunk with --patch/--depth/--dim/--heads)",
    )
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3, help="measured epochs (after one warm-up)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()

    kwargs = (
        {}
        if args.full_size
        else {
            "patch_size": args.patch,
            "depth": args.depth,
            "embed_dim": args.dim,
            "num_heads": args.heads,
        }
    )
    manifest = make_demo_dataset(DEMO_ROOT, progress=False)
    config = TrainConfig(
        data=DataConfig(manifest=str(manifest)),
        model=args.model,
        model_kwargs=kwargs,
        image_size=args.image_size,
        epochs=args.epochs + 1,
        batch_size=args.batch,
        aug_strength=0.0,
        label_smoothing=0.0,
        weight_decay=0.05,
        device=args.device,
        threads=args.threads,
        train_eval_images=args.batch,
    )
    engine = Trainer(config, progress=False)
    device = engine.device.device
    # The bare loop: same model definition and images, pre-normalised in device memory.
    torch.manual_seed(0)
    model = create_model(
        args.model, num_classes=engine.dataset.num_classes, img_size=args.image_size, **kwargs
    ).to(device)
    part = engine.train_part
    x = eval_batch(
        torch.from_numpy(engine.dataset.cache.array[part.rows]).to(device), args.image_size
    )
    y = torch.from_numpy(part.labels).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

    # Evaluation is not part of either figure: make the engine's per-epoch eval cheap.
    engine.dataset = dataclasses.replace(
        engine.dataset,
        val=dataclasses.replace(
            engine.dataset.val,
            rows=engine.dataset.val.rows[: args.batch],
            labels=engine.dataset.val.labels[: args.batch],
        ),
    )
    epochs = engine.fit()
    next(epochs)
    bare_epoch(model, opt, x, y, args.batch, device)  # warm-up both
    bare, eng = [], []
    for _ in range(args.epochs):
        bare.append(bare_epoch(model, opt, x, y, args.batch, device))
        eng.append(next(epochs).images_per_second)
    b, e = statistics.median(bare), statistics.median(eng)
    print(
        f"{args.model} {kwargs or '(full size)'} at {args.image_size}px, batch {args.batch}, "
        f"{len(part)} train images, device {device}, torch threads {torch.get_num_threads()}"
    )
    print(f"  bare PyTorch loop: {b:8.1f} img/s  (epochs: {', '.join(f'{v:.0f}' for v in bare)})")
    print(f"  vitlab engine:     {e:8.1f} img/s  (epochs: {', '.join(f'{v:.0f}' for v in eng)})")
    print(f"engine / bare = {e / b:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
