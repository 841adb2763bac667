"""The train/eval loop. ``Trainer(config).fit()`` yields one :class:`EpochMetrics` per epoch.

Read it top to bottom: set up the device and seeds, build the model and optimizer, then per epoch
train on augmented batches, measure (val and an un-augmented train probe), checkpoint, and yield.
It knows nothing about Optuna: the study layer consumes the yielded records.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

from vitlab import checkpoint
from vitlab.augment import BatchAugment, aug_params, eval_batch
from vitlab.config import TrainConfig, to_dict
from vitlab.dataset import Dataset, Part, load_dataset
from vitlab.device import DeviceSetup, setup_device
from vitlab.errors import UserError
from vitlab.metrics import EpochMetrics, PerClass, best_index
from vitlab.models import count_parameters, create_model, data_config

# What a last.pt must hold to resume from.
RESUME_KEYS = ("config", "epochs_done", "model", "optimizer", "scheduler", "history")


class TrainingError(UserError):
    """Training stopped for a reason the user can act on (NaN loss, out of memory...)."""


class Trainer:
    """One training run: a configuration, its dataset and model, and (optionally) checkpoints."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        *,
        checkpoint_dir: Path | None = None,
        progress: bool = True,
    ) -> None:
        self.config = c = config
        self.dataset = dataset or load_dataset(c.data, image_size=c.image_size, progress=progress)
        self.checkpoint_dir = checkpoint_dir
        self.device: DeviceSetup = setup_device(c.device, compile=c.compile, threads=c.threads)
        self.history: list[EpochMetrics] = []

        # The filter removes classes from training only; the head still has every class, so
        # val images of dropped classes are scored (and counted as errors) like the others.
        self.class_filter = self.dataset.class_filter(c.min_images)
        self.kept = torch.from_numpy(self.dataset.kept_mask(self.class_filter))
        self.train_part = self.dataset.kept_train(self.class_filter)
        if len(self.train_part) == 0:
            raise TrainingError(f"min_images={c.min_images} drops every class: nothing to train")
        # A fixed subset (independent of the trial's seed) for the un-augmented train top-1.
        probe = np.random.default_rng(0).permutation(len(self.train_part))[: c.train_eval_images]
        self.probe_part = Part(
            self.train_part.rows[np.sort(probe)], self.train_part.labels[np.sort(probe)]
        )

        torch.manual_seed(c.seed)  # model initialisation
        self.model = create_model(
            c.model,
            num_classes=self.dataset.num_classes,
            pretrained=c.pretrained,
            drop_rate=c.drop_rate,
            drop_path_rate=c.drop_path_rate,
            img_size=c.image_size,
            **c.model_kwargs,
        )
        self.num_params = count_parameters(self.model)
        cfg = data_config(self.model)
        self.mean, self.std = tuple(cfg["mean"]), tuple(cfg["std"])
        self.model = self.device.prepare_model(self.model)
        self.augment = BatchAugment(
            aug_params(c.aug_strength, c.aug_ladder), c.image_size, self.mean, self.std
        )
        p = self.augment.params
        self.mixup = (
            Mixup(
                mixup_alpha=p.mixup_alpha,
                cutmix_alpha=p.cutmix_alpha,
                label_smoothing=c.label_smoothing,
                num_classes=self.dataset.num_classes,
            )
            if p.mixup_alpha > 0 or p.cutmix_alpha > 0
            else None
        )

        self.optimizer = create_optimizer_v2(
            self.model, opt="adamw", lr=c.lr, weight_decay=c.weight_decay, layer_decay=c.layer_decay
        )
        # Small datasets: drop the ragged last batch (it would be noisy and break mixup's pairing)
        # unless the whole training set is smaller than one batch.
        self.steps_per_epoch = max(1, len(self.train_part) // c.batch_size)
        total = c.epochs * self.steps_per_epoch
        self.scheduler = CosineLRScheduler(
            self.optimizer,
            t_initial=total,
            lr_min=c.min_lr,
            warmup_t=round(c.warmup_epochs * self.steps_per_epoch),
            warmup_lr_init=c.lr * 1e-3,
            warmup_prefix=True,
            t_in_epochs=False,
        )
        self.start_epoch = self._resume() if checkpoint_dir else 0

    # -- the loop -------------------------------------------------------------------------------

    def fit(self) -> Iterator[EpochMetrics]:
        c = self.config
        for epoch in range(self.start_epoch, c.epochs):
            start = time.perf_counter()
            # Every epoch's randomness (order, augmentation, dropout, mixup) is derived from
            # (seed, epoch), so a resumed run replays exactly what an uninterrupted one does.
            generator = torch.Generator().manual_seed(_epoch_seed(c.seed, epoch))
            torch.manual_seed(_epoch_seed(c.seed, epoch) + 1)
            np.random.seed(_epoch_seed(c.seed, epoch) % 2**32)  # timm's Mixup draws from numpy

            train_loss, train_seconds, seen = self._train_epoch(epoch, generator)
            probe_loss, probe_top1, _, _, _ = self._evaluate(self.probe_part)
            val_loss, val_top1, val_top5, val_top1_kept, per_class = self._evaluate(
                self.dataset.val
            )
            metrics = EpochMetrics(
                epoch=epoch + 1,
                train_loss=train_loss,
                train_top1=probe_top1,
                train_probe_loss=probe_loss,
                val_loss=val_loss,
                val_top1=val_top1,
                val_top5=val_top5,
                val_top1_kept=val_top1_kept,
                class_coverage=self.class_filter.coverage,
                gap=probe_top1 - val_top1_kept,
                lr=self.optimizer.param_groups[0]["lr"],
                epoch_seconds=time.perf_counter() - start,
                images_per_second=seen / train_seconds if train_seconds > 0 else 0.0,
                per_class=per_class,
            )
            self.history.append(metrics)
            if self.checkpoint_dir is not None:
                self._save(epoch + 1)
            yield metrics

    def _train_epoch(self, epoch: int, generator: torch.Generator) -> tuple[float, float, int]:
        c, dev = self.config, self.device
        self.model.train()
        order = torch.randperm(len(self.train_part), generator=generator).numpy()
        batch = min(c.batch_size, len(order))
        if self.mixup is not None:
            batch -= batch % 2  # mixup pairs samples within a batch
        loss_sum = torch.zeros((), device=dev.device)
        step_base = epoch * self.steps_per_epoch
        start = time.perf_counter()
        for step in range(self.steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            images = dev.to_device(self._gather(self.train_part.rows[idx]))
            targets = torch.from_numpy(self.train_part.labels[idx]).to(dev.device)
            try:
                loss = self._step(images, targets, generator)
            except torch.cuda.OutOfMemoryError:
                raise self._oom() from None
            if c.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.optimizer.step()
            self.scheduler.step_update(num_updates=step_base + step + 1)
            loss_sum += loss.detach()
            # Checking every step would synchronise a GPU; every few steps bounds the waste.
            if (step + 1) % dev.sync_every == 0 or step + 1 == self.steps_per_epoch:
                value = float(loss_sum) / (step + 1)
                if not math.isfinite(value):
                    raise TrainingError(
                        f"loss became {value} at epoch {epoch + 1}, step {step + 1} (lr "
                        f"{self.optimizer.param_groups[0]['lr']:.3g}): lower lr, or set "
                        "grad_clip"
                    )
        seconds = time.perf_counter() - start
        return float(loss_sum) / self.steps_per_epoch, seconds, self.steps_per_epoch * batch

    def _step(
        self, images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Augment, forward, backward: returns the (detached) batch loss."""
        x = self.device.channels_last(self.augment(images, generator))
        if self.mixup is not None:
            x, soft = self.mixup(x, targets)
        with self.device.autocast():
            logits = self.model(x)
        if self.mixup is not None:
            loss = SoftTargetCrossEntropy()(logits.float(), soft)
        else:
            loss = F.cross_entropy(
                logits.float(), targets, label_smoothing=self.config.label_smoothing
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss.detach()

    @torch.inference_mode()
    def _evaluate(self, part: Part) -> tuple[float, float, float, float, PerClass]:
        """(loss, top-1, top-5, top-1 on kept classes, per-class counts) on un-augmented images."""
        dev, n_classes = self.device, self.dataset.num_classes
        self.model.eval()
        loss = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros(n_classes, dtype=torch.int64)
        correct5 = torch.zeros((), dtype=torch.int64)
        total = torch.bincount(torch.from_numpy(part.labels), minlength=n_classes)
        batch = self.config.batch_size * 2
        for i in range(0, len(part), batch):
            images = dev.to_device(self._gather(part.rows[i : i + batch]))
            y = torch.from_numpy(part.labels[i : i + batch])
            with dev.autocast():
                logits = self.model(
                    dev.channels_last(
                        eval_batch(images, self.config.image_size, self.mean, self.std)
                    )
                )
            logits = logits.float().cpu()
            loss += F.cross_entropy(logits, y, reduction="sum").double()
            top = logits.topk(min(5, n_classes), dim=1).indices
            kept = self.kept[y]  # a dropped class is never a correct answer
            hit1 = (top[:, 0] == y) & kept
            correct += torch.bincount(y[hit1], minlength=n_classes)
            correct5 += ((top == y[:, None]).any(dim=1) & kept).sum()
        n = max(len(part), 1)
        n_kept = int(total[self.kept].sum())
        top1_kept = float(correct[self.kept].sum()) / n_kept if n_kept else 0.0
        return (
            float(loss) / n,
            float(correct.sum()) / n,
            float(correct5) / n,
            top1_kept,
            PerClass(correct.numpy(), total.numpy()),
        )

    def _gather(self, rows: np.ndarray) -> torch.Tensor:
        # Sorted reads are kinder to the memory map; the batch is put back in order after.
        order = np.argsort(rows, kind="stable")
        images = np.empty((len(rows), *self.dataset.cache.array.shape[1:]), dtype=np.uint8)
        images[order] = self.dataset.cache.array[rows[order]]
        return torch.from_numpy(images)

    def _oom(self) -> TrainingError:
        return TrainingError(
            f"CUDA out of memory with batch_size={self.config.batch_size} and model "
            f"{self.config.model} ({self.num_params / 1e6:.1f}M parameters): lower batch_size"
        )

    # -- checkpoints ----------------------------------------------------------------------------

    def best(self) -> EpochMetrics | None:
        """The best epoch so far, by :func:`vitlab.metrics.best_index`."""
        i = best_index([m.val_top1 for m in self.history], [m.val_loss for m in self.history])
        return None if i is None else self.history[i]

    def _save(self, epochs_done: int) -> None:
        d = self.checkpoint_dir
        assert d is not None
        d.mkdir(parents=True, exist_ok=True)
        state = {
            "version": checkpoint.CHECKPOINT_VERSION,
            "config": to_dict(self.config),
            "epochs_done": epochs_done,
            "model": self.device.unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": [m.as_dict() for m in self.history],
            "classes": list(self.dataset.classes),
        }
        checkpoint.save(state, d / "last.pt")
        if self.best() is self.history[-1]:
            checkpoint.save(
                {k: state[k] for k in ("version", "config", "model", "classes")}
                | {"metrics": self.history[-1].as_dict()},
                d / "best.pt",
            )

    def _resume(self) -> int:
        path = self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None
        if path is None or not path.exists():
            return 0
        state = checkpoint.load(path, RESUME_KEYS)
        changes = checkpoint.config_changes(state["config"], to_dict(self.config))
        if changes:
            raise TrainingError(
                f"{path} was written by another configuration ({', '.join(changes)}); use "
                "another --checkpoint-dir or delete it to start over"
            )
        # The same configuration over a changed manifest: the head's rows would mean other
        # classes, silently, when the count stays the same.
        saved = state.get("classes")
        if saved is not None and list(saved) != list(self.dataset.classes):
            changed = sum(a != b for a, b in zip(saved, self.dataset.classes, strict=False))
            changed += abs(len(saved) - len(self.dataset.classes))
            raise checkpoint.unusable(
                path,
                f"written for other classes: {len(saved)} then, {len(self.dataset.classes)} now, "
                f"{changed} differ",
            )
        try:
            self.device.unwrap(self.model).load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            history = [EpochMetrics(**m) for m in state["history"]]
            epochs_done = int(state["epochs_done"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            # Same configuration, other contents: the dataset's classes changed, or a foreign file.
            problem = " ".join(str(e).split())[:200]
            raise checkpoint.unusable(path, f"{type(e).__name__}: {problem}") from None
        self.history = history
        return epochs_done


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it to disk, so a crash never loses a finished epoch."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
