"""The `digitnet` command: a thin layer over the Python API.

    digitnet train [--preset fast|seed] [--epochs N] [--out model.npz] ...
    digitnet evaluate MODEL [--data-dir DIR]

Only this module sees argparse. Errors caused by input (bad files, bad flags, a diverging
run) print one line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import PRESETS, Config
from .errors import DigitnetError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field; the default of each is the chosen preset's value."""
    group = parser.add_argument_group("training settings (override the preset)")
    for f in dataclasses.fields(Config):
        if f.name == "preset":
            continue
        values = ", ".join(f"{name}: {getattr(cfg, f.name)}" for name, cfg in PRESETS.items())
        kwargs: dict[str, Any] = {"default": None, "help": f"{f.metadata['help']} [{values}]"}
        if f.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[f.type]
            kwargs["metavar"] = f.name.upper()
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
                kwargs.pop("metavar")
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitnet", description="Handwritten digit recognition with a NumPy neural network.")
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a network on MNIST and report test accuracy",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                       help="starting settings: 'seed' is the blog post's network and algorithm")
    train.add_argument("--data-dir", type=Path, default=None,
                       help="directory with the four idx files (default: bundled MNIST)")
    train.add_argument("--out", type=Path, default=None, help="save the trained model here (.npz)")
    train.add_argument("--metrics-json", type=Path, default=None,
                       help="write test accuracy, timings and per-epoch history here")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue an interrupted run from its checkpoint")
    train.add_argument("--checkpoint", type=Path, default=None,
                       help="where Ctrl-C saves a checkpoint (default: OUT.checkpoint.npz, "
                            "or digitnet-checkpoint.npz)")
    train.add_argument("-q", "--quiet", action="store_true", help="print only the final result")
    _config_flags(train)

    evaluate = sub.add_parser("evaluate", help="measure a saved model on the test set")
    evaluate.add_argument("model", type=Path, help="model file written by 'digitnet train --out'")
    evaluate.add_argument("--data-dir", type=Path, default=None,
                          help="directory with the four idx files (default: bundled MNIST)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, parser)
        return cmd_evaluate(args)
    except DigitnetError as e:
        print(f"digitnet: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("digitnet: interrupted by user", file=sys.stderr)
        return EXIT_INTERRUPTED


def _build_config(args: argparse.Namespace, base: Config,
                  parser: argparse.ArgumentParser) -> Config:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                 if f.name != "preset" and getattr(args, f.name) is not None}
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits


def _progress_factory(quiet: bool):
    """A tqdm bar per epoch on a terminal; nothing when quiet or not a TTY."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bars: list[Any] = []

    def make(epoch: int, total: int):
        for bar in bars:
            bar.close()
        bars.clear()
        bars.append(tqdm(total=total, desc=f"epoch {epoch}", unit="img", leave=False,
                         unit_scale=True, dynamic_ncols=True))
        return bars[0].update

    return make


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}", f"loss {record['loss']:.4f}"]
    if "val_accuracy" in record:
        parts.append(f"val {100 * record['val_accuracy']:.2f}%")
    if "test_accuracy" in record:
        parts.append(f"test {100 * record['test_accuracy']:.2f}%")
    parts.append(f"lr {record['lr']:.3g}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .classifier import Classifier
    from .data import load_mnist
    from .model import load_checkpoint, save_checkpoint

    state = None
    if args.resume is not None:
        base, state = load_checkpoint(args.resume)
    else:
        base = PRESETS[args.preset]
    config = _build_config(args, base, parser)
    data = load_mnist(args.data_dir)
    checkpoint = args.checkpoint or (args.out.with_suffix(".checkpoint.npz") if args.out
                                     else Path("digitnet-checkpoint.npz"))
    meta = {"data_source": data.source, "data_sha256": data.sha256}

    def on_epoch(record: dict[str, Any]) -> None:
        if not args.quiet:
            print(_epoch_line(record, config.epochs), flush=True)

    def on_interrupt(saved) -> None:
        save_checkpoint(checkpoint, saved, config, meta)
        print(f"\nTraining interrupted by user after epoch {saved.epoch} of {config.epochs}; "
              f"checkpoint saved to {checkpoint}. Resume with: digitnet train --resume "
              f"{checkpoint}", file=sys.stderr)

    if not args.quiet:
        resumed = f", resuming after epoch {state.epoch}" if state is not None else ""
        print(f"training 784-{config.hidden}-10 ({config.preset} preset{resumed}) on "
              f"{data.source}: {len(data.x_train) - config.val_split} train, "
              f"{config.val_split} validation, {len(data.x_test)} test images", flush=True)
    clf = Classifier(config).fit(
        data.x_train, data.y_train, test=(data.x_test, data.y_test), state=state,
        progress=_progress_factory(args.quiet), on_epoch=on_epoch, on_interrupt=on_interrupt,
        metadata=meta)

    result = clf.result_
    stop = f" (stopped early; kept epoch {result.best_epoch})" if result.stopped_early else ""
    print(f"test accuracy {100 * result.test_accuracy:.2f}%  test loss {result.test_loss:.4f}  "
          f"train time {result.train_seconds:.1f}s{stop}")
    if args.out is not None:
        clf.save(args.out)
        print(f"model saved to {args.out}")
    if args.metrics_json is not None:
        metrics = {"test_accuracy": result.test_accuracy, "test_loss": result.test_loss,
                   "train_seconds": result.train_seconds, "epochs": len(result.history),
                   "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                   "history": result.history, "config": config.to_dict()}
        args.metrics_json.write_text(json.dumps(metrics, indent=2) + "\n")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_mnist
    from .model import load_model
    from .train import evaluate, prepare_inputs

    model = load_model(args.model)
    data = load_mnist(args.data_dir)
    accuracy, loss = evaluate(model.params, prepare_inputs(data.x_test, model.config),
                              data.y_test, model.config.loss)
    print(f"test accuracy {100 * accuracy:.2f}%  test loss {loss:.4f}  "
          f"({len(data.x_test)} images from {data.source})")
    return 0
