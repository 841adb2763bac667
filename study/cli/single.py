"""The single-run sub-commands: ``split``, ``cache``, ``train``, ``pretrain`` and ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.cli.arguments import (
    Sub,
    add_device,
    add_manifest_options,
    fraction,
    manifest_data,
    positive_int,
)
from study.data import SPLITS_ROOT
from study.single_run import TRAIN_ROOT
from study.space.load import DEFAULT_SPACE
from study.storage import default_storage_url
from study.weights import DEFAULT_EPOCHS
from vitlab.cache import DEFAULT_ROOT as CACHE_ROOT
from vitlab.cache import cache_size_for
from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DEMO_ROOT
from vitlab.errors import UserError
from vitlab.pretrain import PRETRAIN_ROOT

__all__ = [
    "DEMO_TRAIN_CONFIG",
    "add_cache",
    "add_demo",
    "add_pretrain",
    "add_split",
    "add_train",
    "cmd_cache",
    "cmd_demo",
    "cmd_pretrain",
    "cmd_split",
    "cmd_train",
]

DEMO_TRAIN_CONFIG = Path("configs/demo_train.yaml")  # the example `train --help` names


def add_split(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "split",
        help="stratified train/val/test split of a manifest",
        description="Split a manifest per class: 1 image -> train; 2 -> 1 train + "
        "1 val; 3+ -> val max(1, floor(val_frac*n)), test floor(test_frac*n), "
        "train the rest. Writes train/val/test.jsonl and split_summary.json.",
    )
    help = f"JSONL, CSV or image folder (default: the generated demo dataset in {DEMO_ROOT}/)"
    p.add_argument("--manifest", type=Path, help=help)
    p.add_argument("--out", type=Path, help=f"output folder (default: {SPLITS_ROOT}/<name>)")
    help = "shuffle seed (default %(default)s)"
    p.add_argument("--seed", type=int, default=DataConfig.split_seed, help=help)
    p.add_argument(
        "--val-frac", type=fraction, default=DataConfig.val_frac, help="default %(default)s"
    )
    p.add_argument(
        "--test-frac", type=fraction, default=DataConfig.test_frac, help="default %(default)s"
    )
    add_manifest_options(p)
    return p


def cmd_split(args: argparse.Namespace) -> int:
    from study.data import prepare_split, split_report
    from vitlab.split import check_fracs

    try:  # the same check as a config's data section, naming the flags
        check_fracs(args.val_frac, args.test_frac, names=("--val-frac", "--test-frac"))
    except ValueError as e:
        raise UserError(str(e)) from None
    fractions = {"val_frac": args.val_frac, "test_frac": args.test_frac}
    data = manifest_data(args, split_seed=args.seed, **fractions)
    print(split_report(prepare_split(data, args.out, on_missing=args.missing)))
    return 0


def add_cache(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "cache",
        help="decode and resize every image once into the image cache",
        description="Build (or reuse) the uint8 memory-mapped image cache that "
        "training reads from.",
    )
    p.add_argument("--manifest", type=Path, help="JSONL, CSV or image folder (default: demo)")
    size = TrainConfig.image_size
    p.add_argument(
        "--image-size",
        type=int,
        default=size,
        help=f"training crop size (default {size}); the cache stores a larger side to leave "
        f"room for crops ({cache_size_for(size)} for {size})",
    )
    p.add_argument("--cache-size", type=int, help="override the stored side length")
    help = "cache folder (default %(default)s)"
    p.add_argument("--root", type=Path, default=CACHE_ROOT, help=help)
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    add_manifest_options(p)
    return p


def cmd_cache(args: argparse.Namespace) -> int:
    from study.data import cache_images

    data = manifest_data(args, cache_root=str(args.root))
    options = {"cache_size": args.cache_size, "workers": args.workers, "on_missing": args.missing}
    print(cache_images(data, args.image_size, **options))
    return 0


def add_train(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train one configuration: a YAML file, or a study's trial",
        description="Train one configuration and print one line per epoch. Saves the best-val "
        "checkpoint and resumes from the last one if interrupted. With --config: the YAML's "
        "data, fixed settings and parameter values. With --study and --trial: retrain that "
        "trial of a recorded study (the space and data the study recorded, all its epochs, no "
        "pruner): the same seed and epochs repeat its curves; --epochs trains the winner for "
        "longer, --seed measures another seed.",
    )
    help = f"training YAML (see {DEMO_TRAIN_CONFIG}); a config without data uses the demo dataset"
    p.add_argument("--config", type=Path, help=help)
    help = "the study of --trial (on --storage)"
    p.add_argument("--study", dest="study_name", metavar="NAME", help=help)
    help = "retrain this trial of --study: Optuna's trial number, as optuna-dashboard and the "
    help += "report show it (the baseline is 0)"
    p.add_argument("--trial", type=int, metavar="N", help=help)
    help = "with --trial: train this many epochs (default: the trial's own)"
    p.add_argument("--epochs", type=positive_int, metavar="E", help=help)
    help = "with --trial: training seed (default: the trial's recorded seed, else the study's)"
    p.add_argument("--seed", type=int, metavar="S", help=help)
    help = f"with --trial: SQLAlchemy URL of the study's storage (default {default_storage_url()})"
    p.add_argument("--storage", metavar="URL", help=help)
    help = f"JSONL, one line per epoch (default: {TRAIN_ROOT}/<config>/metrics.jsonl, or "
    help += f"{TRAIN_ROOT}/<study>-trial<N>[-seed<S>][-epochs<E>]/metrics.jsonl)"
    p.add_argument("--metrics-out", type=Path, help=help)
    help = f"default {TRAIN_ROOT}/<config>/checkpoints (or <study>-trial<N>...)"
    p.add_argument("--checkpoint-dir", type=Path, help=help)
    add_device(p, "the config")
    return p


TRIAL_ONLY = ("epochs", "seed", "storage")  # the flags that only --trial reads


def cmd_train(args: argparse.Namespace) -> int:
    from study.single_run import train_config_file, train_trial

    outputs = {"metrics_out": args.metrics_out, "checkpoint_dir": args.checkpoint_dir}
    by_trial = args.study_name is not None or args.trial is not None
    if args.config is not None and by_trial:
        raise UserError("--config and --study/--trial exclude each other: give one of the two")
    if args.config is not None:
        given = [f"--{name}" for name in TRIAL_ONLY if getattr(args, name) is not None]
        if given:
            raise UserError(f"{', '.join(given)}: only with --study and --trial, not --config")
        train_config_file(args.config, device=args.device, **outputs)
        return 0
    if args.study_name is None and args.trial is None:
        raise UserError("train needs --config FILE, or --study NAME with --trial N")
    if args.study_name is None or args.trial is None:
        given, other = ("--trial", "--study") if args.study_name is None else ("--study", "--trial")
        raise UserError(f"{given} goes with {other}: give both to retrain a study's trial")
    from study.dashboard.server import check_storage_url

    check_storage_url(args.storage or default_storage_url())
    train_trial(
        args.study_name,
        args.trial,
        storage_url=args.storage,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        **outputs,
    )
    return 0


def add_pretrain(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pretrain",
        help="make a search space's local pretrained weights (offline)",
        description="Train the model presets of a search space's pretrained_weights set on "
        "other classes (default: the demo's pretraining set, 200 classes with none of the "
        "demo's colours) and write each best epoch's weights to the file the space names.",
    )
    help = "default: the demo, %(default)s"
    p.add_argument("--space", type=Path, default=DEFAULT_SPACE, help=help)
    p.add_argument("--weights", help="which pretrained_weights set (default: the only one)")
    p.add_argument("--model", action="append", help="only this model preset (repeatable)")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="default %(default)s")
    help = f"pretraining manifest (default: {PRETRAIN_ROOT}, generated)"
    p.add_argument("--data", type=Path, help=help)
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--force", action="store_true", help="retrain files that exist")
    return p


def cmd_pretrain(args: argparse.Namespace) -> int:
    from study.weights import make_weights

    make_weights(
        args.space,
        name=args.weights,
        models=args.model,
        epochs=args.epochs,
        manifest=args.data,
        threads=args.threads,
        force=args.force,
    )
    return 0


def add_demo(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="generate the demo dataset (deterministic, no download)",
        description="Generate the long-tailed demo dataset of real image files.",
    )
    p.add_argument("--out", type=Path, default=DEMO_ROOT, help="default %(default)s")
    return p


def cmd_demo(args: argparse.Namespace) -> int:
    from vitlab.demo import make_demo_dataset

    print(f"demo manifest: {make_demo_dataset(args.out)}")
    return 0
