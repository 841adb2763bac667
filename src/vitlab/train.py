"""The train/eval loop. ``Trainer(config).fit()`` yields one :class:`EpochMetrics` per epoch.

Read it top to bottom: set up the device and seeds, pick the images, build the model, the
augmentation, the optimizer and its schedule, then per epoch train on augmented batches, measure
(val and an un-augmented train probe, counted by :mod:`vitlab.scoring`), checkpoint
(:mod:`vitlab.resume`), and yield. It knows nothing about Optuna: the study layer consumes the
yielded records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

from vitlab import resume
from vitlab.augment import BatchAugment, eval_batch
from vitlab.config import TrainConfig, to_dict
from vitlab.dataset import Dataset, Part, load_dataset
from vitlab.device import DeviceSetup, setup_device
from vitlab.errors import TrainingError
from vitlab.ladder import AugParams, aug_params
from vitlab.metrics import EpochMetrics, best_index
from vitlab.models import count_parameters, create_model, data_config
from vitlab.scoring import Scores, Tally


class Trainer:
    """One training run: a configuration, its dataset and model, and (optionally) checkpoints."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        *,
        checkpoint_dir: Path | None = None,
        progress: bool = True,
        keep_best: bool = False,
    ) -> None:
        self.config = c = config
        self.dataset = dataset or load_dataset(c.data, image_size=c.image_size, progress=progress)
        self.checkpoint_dir = checkpoint_dir
        self.device: DeviceSetup = setup_device(c.device, compile=c.compile, threads=c.threads)
        self.history: list[EpochMetrics] = []
        # The best epoch's val predictions, (2, images): labels, then top-1 classes
        # (vitlab.scoring). Only the best epoch's are kept; a resumed run has none until its
        # next best epoch.
        self.best_predictions: np.ndarray | None = None
        # keep_best: a copy of the best epoch's weights, for one later score on another split
        # (the confirmation's test split: ``score_best``). Off by default: it costs a model copy.
        self.keep_best = keep_best
        self._best_state: dict[str, torch.Tensor] | None = None

        # The images. The filter removes classes from training only; the head still has every
        # class, so val images of dropped classes are scored (and counted as errors) like others.
        self.class_filter = self.dataset.class_filter(c.min_images)
        self.kept = torch.from_numpy(self.dataset.kept_mask(self.class_filter))
        self.train_part = self.dataset.kept_train(self.class_filter)
        if len(self.train_part) == 0:
            raise TrainingError(f"min_images={c.min_images} drops every class: nothing to train")
        self.probe_part = _probe(self.train_part, c.train_eval_images)

        # The model, and the normalisation its (pretrained) weights expect.
        torch.manual_seed(c.seed)  # model initialisation
        model = create_model(
            c.model,
            num_classes=self.dataset.num_classes,
            pretrained=c.pretrained,
            drop_rate=c.drop_rate,
            drop_path_rate=c.drop_path_rate,
            img_size=c.image_size,
            **c.model_kwargs,
        )
        self.num_params = count_parameters(model)
        cfg = data_config(model)
        self.mean, self.std = tuple(cfg["mean"]), tuple(cfg["std"])
        self.model = self.device.prepare_model(model)

        # Augmentation: batched on the device, then mixup/cutmix (which need the targets).
        self.augment = BatchAugment(
            aug_params(c.aug_strength, c.aug_ladder), c.image_size, self.mean, self.std
        )
        self.mixup = _mixup(self.augment.params, c.label_smoothing, self.dataset.num_classes)

        # The optimizer and its per-step schedule. Small datasets: drop the ragged last batch
        # (it would be noisy and break mixup's pairing) unless the whole training set is
        # smaller than one batch.
        self.optimizer = create_optimizer_v2(
            self.model, opt="adamw", lr=c.lr, weight_decay=c.weight_decay, layer_decay=c.layer_decay
        )
        self.steps_per_epoch = max(1, len(self.train_part) // c.batch_size)
        self.scheduler = _cosine_schedule(self.optimizer, c, self.steps_per_epoch)
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
            probe = self._evaluate(self.probe_part)
            val = self._evaluate(self.dataset.val)
            metrics = EpochMetrics(
                epoch=epoch + 1,
                train_loss=train_loss,
                train_top1=probe.top1,
                train_probe_loss=probe.loss,
                val_loss=val.loss,
                val_top1=val.top1,
                val_top5=val.top5,
                val_top1_kept=val.top1_kept,
                class_coverage=self.class_filter.coverage,
                gap=probe.top1 - val.top1_kept,
                lr=self.optimizer.param_groups[0]["lr"],
                epoch_seconds=time.perf_counter() - start,
                images_per_second=seen / train_seconds if train_seconds > 0 else 0.0,
                per_class=val.per_class,
            )
            self.history.append(metrics)
            if self.best() is metrics:
                self.best_predictions = np.stack([val.labels, val.predicted])
                if self.keep_best:
                    state = self.device.unwrap(self.model).state_dict()
                    self._best_state = {k: v.detach().clone() for k, v in state.items()}
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
            images = self._images(self.train_part.rows[idx])
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
    def _evaluate(self, part: Part) -> Scores:
        """The model's scores on the un-augmented (eval view) images of ``part``."""
        dev = self.device
        self.model.eval()
        tally = Tally(self.kept)
        batch = self.config.batch_size * 2
        for i in range(0, len(part), batch):
            images = self._images(part.rows[i : i + batch])
            x = eval_batch(images, self.config.image_size, self.mean, self.std)
            with dev.autocast():
                logits = self.model(dev.channels_last(x))
            tally.add(logits.float().cpu(), torch.from_numpy(part.labels[i : i + batch]))
        return tally.scores()

    def score_best(self, part: Part) -> Scores:
        """Score ``part`` once with the best epoch's weights (the epoch chosen on val): the
        confirmation's test score. The model keeps those weights afterwards."""
        if self._best_state is None:
            raise TrainingError("score_best needs Trainer(keep_best=True) and a finished epoch")
        self.device.unwrap(self.model).load_state_dict(self._best_state)
        return self._evaluate(part)

    def _images(self, rows: np.ndarray) -> torch.Tensor:
        """uint8 (n, S, S, 3) images of cache ``rows``, on the training device."""
        return self.device.to_device(torch.from_numpy(self.dataset.cache.read(rows)))

    def _oom(self) -> TrainingError:
        return TrainingError(
            f"CUDA out of memory with batch_size={self.config.batch_size} and model "
            f"{self.config.model} ({self.num_params / 1e6:.1f}M parameters): lower batch_size"
        )

    # -- the best epoch and checkpoints ---------------------------------------------------------

    def best(self) -> EpochMetrics | None:
        """The best epoch so far, by :func:`vitlab.metrics.best_index`."""
        i = best_index([m.val_top1 for m in self.history], [m.val_loss for m in self.history])
        return None if i is None else self.history[i]

    def _save(self, epochs_done: int) -> None:
        assert self.checkpoint_dir is not None
        state = resume.run_state(
            config=to_dict(self.config),
            epochs_done=epochs_done,
            model=self.device.unwrap(self.model),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            history=self.history,
            classes=self.dataset.classes,
        )
        best = self.history[-1] if self.best() is self.history[-1] else None
        resume.save_epoch(self.checkpoint_dir, state, best)

    def _resume(self) -> int:
        """Go on from ``last.pt`` if the checkpoint folder has one: the epoch to start at."""
        assert self.checkpoint_dir is not None
        path = self.checkpoint_dir / resume.LAST
        if not path.exists():
            return 0
        epochs_done, self.history = resume.restore(
            path,
            config=to_dict(self.config),
            classes=self.dataset.classes,
            model=self.device.unwrap(self.model),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
        )
        return epochs_done


def _probe(train: Part, images: int) -> Part:
    """A fixed subset of ``train`` (independent of the trial's seed) for the un-augmented
    train top-1."""
    probe = np.sort(np.random.default_rng(0).permutation(len(train))[:images])
    return Part(train.rows[probe], train.labels[probe])


def _mixup(p: AugParams, label_smoothing: float, num_classes: int) -> Mixup | None:
    """timm's Mixup for the ladder's alphas; None when both are 0."""
    if p.mixup_alpha <= 0 and p.cutmix_alpha <= 0:
        return None
    return Mixup(
        mixup_alpha=p.mixup_alpha,
        cutmix_alpha=p.cutmix_alpha,
        label_smoothing=label_smoothing,
        num_classes=num_classes,
    )


def _cosine_schedule(
    optimizer: torch.optim.Optimizer, c: TrainConfig, steps_per_epoch: int
) -> CosineLRScheduler:
    """Per-step cosine decay to ``min_lr`` after a linear warmup of ``warmup_epochs``."""
    return CosineLRScheduler(
        optimizer,
        t_initial=c.epochs * steps_per_epoch,
        lr_min=c.min_lr,
        warmup_t=round(c.warmup_epochs * steps_per_epoch),
        warmup_lr_init=c.lr * 1e-3,
        warmup_prefix=True,
        t_in_epochs=False,
    )


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch
