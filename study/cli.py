"""The command line: parse arguments, call one function, print. No logic lives here."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vitlab.errors import UserError

if TYPE_CHECKING:
    from study.run.runner import RunOptions

EPILOG = "Run 'python -m study COMMAND --help' for a command's options."
DEMO_TRAIN_CONFIG = Path("configs/demo_train.yaml")  # the example `train --help` names


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a sub-command's default must not overwrite a --debug given before the command.
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Python tracebacks on errors",
    )


def _add_artifacts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--artifacts",
        type=Path,
        default=Path("results/artifacts"),
        help="artifact folder: each trial's curves.html (default results/artifacts)",
    )


def _add_manifest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image-root",
        type=Path,
        help="resolve relative image paths against this folder (default: the manifest's folder)",
    )
    p.add_argument(
        "--image-field",
        help="JSONL/CSV field holding the image path "
        "(default: the first of path, image, file, filepath, image_path, filename)",
    )
    p.add_argument(
        "--label-field",
        help="JSONL/CSV field holding the label "
        "(default: the first of label, class, species, category)",
    )
    p.add_argument(
        "--missing",
        choices=("skip", "error"),
        default="skip",
        help="missing image files: skip and list them (default), or stop",
    )


def cmd_split(args: argparse.Namespace) -> int:
    from study.data import prepare_split
    from vitlab.config import DataConfig
    from vitlab.split import check_fracs, format_summary

    try:  # the same check as a config's data section, naming the flags
        check_fracs(args.val_frac, args.test_frac, names=("--val-frac", "--test-frac"))
    except ValueError as e:
        raise UserError(str(e)) from None
    data = DataConfig(
        manifest=None if args.manifest is None else str(args.manifest),
        image_root=None if args.image_root is None else str(args.image_root),
        image_field=args.image_field,
        label_field=args.label_field,
        split_seed=args.seed,
        val_frac=args.val_frac,
        test_frac=args.test_frac,
    )
    prepared = prepare_split(data, args.out, on_missing=args.missing)
    s = prepared.summary
    print(f"split of {s['manifest']} (seed {args.seed})")
    print(format_summary(s))
    if s["missing_images"]:
        print(
            f"skipped {s['missing_images']:,} missing image file(s): listed in "
            f"{prepared.out_dir / 'missing_images.txt'}"
        )
    if s["duplicate_lines"]:
        print(f"dropped {s['duplicate_lines']:,} duplicate line(s)")
    print(f"wrote {prepared.out_dir}/{{train,val,test}}.jsonl and split_summary.json")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from study.data import demo_manifest
    from vitlab.cache import build_cache, cache_size_for
    from vitlab.manifest import read_manifest

    source = args.manifest if args.manifest is not None else demo_manifest()
    manifest = read_manifest(
        source,
        image_root=args.image_root,
        image_field=args.image_field,
        label_field=args.label_field,
        on_missing=args.missing,
    )
    size = args.cache_size or cache_size_for(args.image_size)
    paths = sorted(r.path for r in manifest.records)
    cache = build_cache(paths, size=size, root=args.root, workers=args.workers)
    print(
        f"cache {cache.directory}: {len(cache):,} images at {size}x{size}, "
        f"{len(cache.failed):,} unreadable (listed in {cache.directory / 'failed.tsv'})"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from vitlab.demo import make_demo_dataset

    print(f"demo manifest: {make_demo_dataset(args.out)}")
    return 0


def run_options(args: argparse.Namespace) -> RunOptions:
    """The ``run`` sub-command's arguments as the runner's options."""
    from study.run.runner import RunOptions

    return RunOptions(
        space=args.space,
        data=args.data,
        train=args.train,
        val=args.val,
        test=args.test,
        study_name=args.study,
        storage=args.storage,
        trials=args.trials,
        timeout=args.timeout,
        device=args.device,
        seed=args.seed,
        heartbeat=args.heartbeat,
        grace=args.grace,
        artifacts=args.artifacts,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from study.run.runner import run_study

    run_study(run_options(args))
    return 0


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


def cmd_dashboard(args: argparse.Namespace) -> int:
    from study.dashboard.server import serve_dashboard

    serve_dashboard(args.storage, host=args.host, port=args.port, artifacts=args.artifacts)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from study.single_run import train_config_file

    train_config_file(
        args.config,
        metrics_out=args.metrics_out,
        checkpoint_dir=args.checkpoint_dir,
        device=args.device,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study",
        description="Hyperparameter search and ablation studies for image classifiers.",
        epilog=EPILOG,
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "run",
        help="run (or continue) an Optuna study over a search space",
        description="Run an Optuna study: the space's baseline first, then sampled "
        "trials, each trained and pruned epoch by epoch. With no arguments: the "
        "demo space on the demo data. Several processes on one storage share "
        "the study.",
    )
    p.add_argument(
        "--space",
        type=Path,
        default=Path("search_spaces/demo.yaml"),
        help="search-space YAML (default search_spaces/demo.yaml)",
    )
    data = p.add_mutually_exclusive_group()
    data.add_argument("--data", type=Path, help="manifest (JSONL/CSV) or image folder, split here")
    data.add_argument("--train", type=Path, help="an existing train split file (with --val)")
    p.add_argument("--val", type=Path, help="an existing val split file (with --train)")
    p.add_argument("--test", type=Path, help="an existing test split file (never read by run)")
    p.add_argument("--study", help="study name (default: the space's name)")
    p.add_argument(
        "--storage",
        help="SQLAlchemy URL (default sqlite:///results/studies.db; "
        "postgresql://user@host/db for many machines)",
    )
    p.add_argument(
        "--trials",
        type=int,
        help="finished trials the study should reach (default: the space's trials)",
    )
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), help="override the space's device"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed for every trial (default 0)")
    p.add_argument("--heartbeat", type=int, help="seconds between worker heartbeats (default 10)")
    p.add_argument(
        "--grace",
        type=int,
        help="seconds without a heartbeat before a trial is failed and retried (default 30; "
        "at least 3 heartbeats)",
    )
    _add_artifacts(p)
    _add_common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "dashboard",
        help="watch studies in optuna-dashboard (notes, curves per trial)",
        description="Serve optuna-dashboard on the study storage, with the per-trial curves "
        "files that run writes. Listens on 127.0.0.1 unless --host says otherwise: it has "
        "no authentication.",
    )
    p.add_argument(
        "--storage",
        help="SQLAlchemy URL of an existing storage (default sqlite:///results/studies.db)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 lets anyone on the network "
        "read, edit and delete studies: no authentication)",
    )
    p.add_argument("--port", type=int, default=8080, help="default 8080")
    _add_artifacts(p)
    _add_common(p)
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser(
        "split",
        help="stratified train/val/test split of a manifest",
        description="Split a manifest per class: 1 image -> train; 2 -> 1 train + "
        "1 val; 3+ -> val max(1, floor(val_frac*n)), test floor(test_frac*n), "
        "train the rest. Writes train/val/test.jsonl and split_summary.json.",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        help="JSONL, CSV or image folder (default: the generated demo dataset in data/demo/)",
    )
    p.add_argument("--out", type=Path, help="output folder (default: results/splits/<name>)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    p.add_argument("--val-frac", type=_fraction, default=0.1, help="default 0.1")
    p.add_argument("--test-frac", type=_fraction, default=0.1, help="default 0.1")
    _add_manifest_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser(
        "cache",
        help="decode and resize every image once into the image cache",
        description="Build (or reuse) the uint8 memory-mapped image cache that "
        "training reads from.",
    )
    p.add_argument("--manifest", type=Path, help="JSONL, CSV or image folder (default: demo)")
    p.add_argument(
        "--image-size",
        type=int,
        default=224,
        help="training crop size (default "
        "224); the cache stores ceil(size/0.875) to leave room for crops",
    )
    p.add_argument("--cache-size", type=int, help="override the stored side length")
    p.add_argument("--root", type=Path, default=Path("results/cache"), help="cache folder")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    _add_manifest_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser(
        "train",
        help="train one configuration from a YAML file",
        description="Train one configuration (data, fixed settings, parameter "
        "values) and print one line per epoch. Saves the best-val checkpoint and "
        "resumes from the last one if interrupted. Retrain a study's winner "
        "for longer with it.",
    )
    p.add_argument(
        "--config",
        type=Path,
        required=True,
        help=f"training YAML (see {DEMO_TRAIN_CONFIG}); a config without data uses the demo "
        "dataset",
    )
    p.add_argument(
        "--metrics-out",
        type=Path,
        help="JSONL, one line per epoch (default: results/train/<config>/metrics.jsonl)",
    )
    p.add_argument("--checkpoint-dir", type=Path, help="default results/train/<config>/checkpoints")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="override the config")
    _add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "pretrain",
        help="make a search space's local pretrained weights (offline)",
        description="Train the model presets of a search space's pretrained_weights set on "
        "other classes (default: the demo's pretraining set, 200 classes with none of the "
        "demo's colours) and write each best epoch's weights to the file the space names.",
    )
    p.add_argument(
        "--space", type=Path, default=Path("search_spaces/demo.yaml"), help="default: the demo"
    )
    p.add_argument("--weights", help="which pretrained_weights set (default: the only one)")
    p.add_argument("--model", action="append", help="only this model preset (repeatable)")
    p.add_argument("--epochs", type=int, default=40, help="default 40")
    p.add_argument(
        "--data", type=Path, help="pretraining manifest (default: data/demo_pretrain, generated)"
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--force", action="store_true", help="retrain files that exist")
    _add_common(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "demo",
        help="generate the demo dataset (deterministic, no download)",
        description="Generate the long-tailed demo dataset of real image files.",
    )
    p.add_argument("--out", type=Path, default=Path("data/demo"), help="default data/demo")
    _add_common(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"{e.prefix}{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside a study: nothing half-written is kept
        print(
            "\ninterrupted: nothing half-written was kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # a bug: still one clear line, the traceback behind --debug
        if args.debug:
            raise
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(
            f"internal error: {type(e).__name__}: {e} (at {Path(where.filename).name}:"
            f"{where.lineno}; rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
