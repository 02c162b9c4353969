"""The `digitnet` command: a thin layer over the Python API.

    digitnet train [--preset fast|seed] [--epochs N] [--out model.npz] [--plot FILE.png] ...
    digitnet evaluate MODEL [--data-dir DIR] [--json FILE|-]
    digitnet report MODEL --out DIR [--data-dir DIR]
    digitnet predict MODEL IMAGE... [--top-k K] [--json] [--show-input DIR]
    digitnet export MODEL --onnx OUT.onnx
    digitnet serve MODEL [--host 127.0.0.1] [--port 8000]

Only this module sees argparse. Errors caused by input (bad files, bad flags, a diverging
run) print one line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from .config import PRESETS, Config
from .constants import CLASSES, architecture
from .errors import DigitnetError, OutputError
from .version import __version__

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


AUGMENT_FIELDS = ("aug_rotation", "aug_scale", "aug_shear", "aug_translate", "elastic_alpha",
                  "elastic_sigma")


def _config_flags(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One flag per Config field (or per field in `only`); defaults come from the preset."""
    group = parser.add_argument_group("training settings (override the preset)")
    for f in dataclasses.fields(Config):
        if f.name == "preset" or (only is not None and f.name not in only):
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


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="model file written by 'digitnet train --out'")


def _data_dir_argument(parser: argparse.ArgumentParser, example: str = "") -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"directory with the four idx files{example} (default: bundled MNIST)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitnet", description="Handwritten digit recognition with a NumPy neural network.")
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_report_parser(sub)
    _add_predict_parser(sub)
    _add_export_parser(sub)
    _add_serve_parser(sub)
    _add_augment_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, parser)
    except DigitnetError as e:
        print(f"digitnet: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("digitnet: interrupted by user", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. `| head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a network on MNIST and report test accuracy",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                       help="starting settings: 'seed' is the blog post's network and algorithm")
    _data_dir_argument(train)
    train.add_argument("--out", type=Path, default=None, help="save the trained model here (.npz)")
    train.add_argument("--metrics-json", type=Path, default=None,
                       help="write test accuracy, timings and per-epoch history here")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue an interrupted run from its checkpoint")
    train.add_argument("--checkpoint", type=Path, default=None,
                       help="where Ctrl-C saves a checkpoint (default: OUT.checkpoint.npz, "
                            "or digitnet-checkpoint.npz)")
    train.add_argument("-q", "--quiet", action="store_true", help="print only the final result")
    train.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                       help="also draw the learning curves into this PNG (needs digitnet[plot])")
    _config_flags(train)
    train.set_defaults(run=cmd_train)



def _build_config(args: argparse.Namespace, base: Config,
                  parser: argparse.ArgumentParser) -> Config:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                 if f.name != "preset" and getattr(args, f.name, None) is not None}
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits


def _progress_factory(quiet: bool):
    """A tqdm bar per epoch on a terminal, erased when the epoch ends; None when quiet or
    when stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    def make(epoch: int, total: int):
        bar = tqdm(total=total, desc=f"epoch {epoch}", unit="img", leave=False,
                   unit_scale=True, dynamic_ncols=True)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()  # before the epoch's summary line is printed

        return update

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
    from .checkpoint import load_checkpoint, save_checkpoint
    from .classifier import Classifier
    from .data import load_mnist

    _check_output_paths(args)  # fail now, not after the training run
    state = None
    if args.resume is not None:
        base, state = load_checkpoint(args.resume)
    else:
        base = PRESETS[args.preset]
    config = _build_config(args, base, parser)
    data = load_mnist(args.data_dir)
    if config.val_split >= len(data.x_train):
        parser.error(f"--val-split {config.val_split} must be smaller than the "
                     f"{len(data.x_train)} training images of {data.source}")
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
        print(f"training {architecture(config.hidden)} ({config.preset} preset{resumed}) on "
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
        try:
            args.metrics_json.write_text(json.dumps(metrics, indent=2) + "\n")
        except OSError as e:
            raise OutputError(f"{args.metrics_json}: cannot write metrics "
                              f"({e.strerror or e})") from None
    if args.plot is not None:
        from .report import plot_learning_curves

        plot_learning_curves(result.history, args.plot,
                             f"Learning curves ({architecture(config.hidden)}, "
                             f"{config.preset} preset, {data.source})")
        print(f"learning curves written to {args.plot}")
    return 0


def _check_output_paths(args: argparse.Namespace) -> None:
    """Before training: every file the run will write has a directory to go in, and
    matplotlib is installed if a plot was asked for. A run is never lost to a typo."""
    for flag, path in (("--out", args.out), ("--metrics-json", args.metrics_json),
                       ("--checkpoint", args.checkpoint), ("--plot", args.plot)):
        if path is not None and not path.parent.is_dir():
            raise OutputError(f"{flag} {path}: directory {path.parent} not found")
    if args.plot is not None:
        from .report import require_matplotlib

        require_matplotlib()


def _add_evaluate_parser(sub: Any) -> None:
    evaluate = sub.add_parser(
        "evaluate", help="measure a saved model on the test set",
        description="Print test accuracy and loss, per-class precision/recall/F1, the "
                    "confusion matrix and the most confused pairs of a saved model.")
    _model_argument(evaluate)
    _data_dir_argument(evaluate, ", e.g. Fashion-MNIST")
    evaluate.add_argument("--json", type=Path, default=None, metavar="FILE",
                          help="also write the figures as JSON to FILE; '-' writes only the "
                               "JSON, to stdout")
    evaluate.set_defaults(run=cmd_evaluate)


def _add_report_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="write plots and an HTML page showing what a saved model learned",
        description="Write confusion-matrix, mistake-gallery, learning-curve, hidden-unit and "
                    "confidence plots, metrics.json and index.html into a directory. "
                    "Needs the plot extra: pip install 'digitnet[plot]'.")
    _model_argument(report)
    report.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="directory for the report (created if missing; files in it "
                             "with the report's names are replaced)")
    _data_dir_argument(report)
    report.set_defaults(run=cmd_report)


def _evaluate_saved_model(path: Path, data_dir: Path | None):
    """Load a model and a dataset; returns (model, test images, Evaluation)."""
    from .data import load_mnist
    from .evaluation import evaluate_model
    from .model import load_model

    model = load_model(path)
    data = load_mnist(data_dir)
    return model, data.x_test, evaluate_model(model, data.x_test, data.y_test, data.source)


def cmd_evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .evaluation import format_text

    _, _, evaluation = _evaluate_saved_model(args.model, args.data_dir)
    figures = json.dumps({"model": str(args.model), **evaluation.to_dict()}, indent=2) + "\n"
    if args.json is not None and str(args.json) == "-":
        sys.stdout.write(figures)
        return 0
    print(format_text(evaluation))
    if args.json is not None:
        try:
            args.json.write_text(figures)
        except OSError as e:
            raise OutputError(f"{args.json}: cannot write JSON ({e.strerror or e})") from None
    return 0


def cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .report import require_matplotlib, write_report

    require_matplotlib()  # before the slow part
    model, images, evaluation = _evaluate_saved_model(args.model, args.data_dir)
    written = write_report(model, evaluation, images, args.out, args.model.name)
    print(f"test accuracy {100 * evaluation.accuracy:.2f}%  test loss {evaluation.loss:.4f}  "
          f"({len(images)} images from {evaluation.source})")
    print(f"report written to {args.out}: {', '.join(written)}")
    print(f"open {written['index.html']} in a browser")
    return 0


def _add_predict_parser(sub: Any) -> None:
    predict = sub.add_parser(
        "predict", help="classify pictures of handwritten digits",
        description="Classify pictures of single handwritten digits. Each picture is "
                    "preprocessed as MNIST was made: grayscale, ink made bright, cropped to "
                    "the ink, fit in 20x20 and centered by mass in 28x28.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _model_argument(predict)
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                         help="image files (PNG, JPEG, BMP, GIF, TIFF, WebP) or directories")
    predict.add_argument("--top-k", type=int, default=1, metavar="K",
                         help="show the K most likely digits with their probabilities")
    predict.add_argument("--json", action="store_true",
                         help="print a JSON list: file, digit, probabilities (or error)")
    predict.add_argument("--show-input", type=Path, default=None, metavar="DIR",
                         help="save the 28x28 image the network saw for each file in DIR")
    predict.set_defaults(run=cmd_predict)


def cmd_predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Predict every image; a file that fails gets its own error line, the rest go on."""
    import numpy as np

    from .errors import ImageError
    from .images import list_images, preprocess_file
    from .model import load_model

    if not 1 <= args.top_k <= CLASSES:
        parser.error(f"--top-k must be between 1 and {CLASSES}, got {args.top_k}")
    model = load_model(args.model)
    if args.show_input is not None:
        try:
            args.show_input.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ImageError(f"--show-input {args.show_input}: cannot create the directory "
                             f"({e.strerror or e})") from None
    records: list[dict[str, Any]] = []  # one per file, in order, each "digit" or "error"
    inputs: list[np.ndarray] = []  # (28, 28) uint8, one per record without an error
    for given in args.images:
        try:
            files = list_images([given])
        except ImageError as e:
            records.append({"file": str(given), "error": str(e)})
            continue
        for path in files:
            try:
                inputs.append(preprocess_file(path))
                records.append({"file": str(path)})
            except ImageError as e:
                records.append({"file": str(path), "error": str(e)})

    ok = [r for r in records if "error" not in r]
    saved: set[Path] = set()
    if inputs:
        probabilities = model.predict_proba(np.stack(inputs))  # (n, 10)
        for record, probs, image in zip(ok, probabilities, inputs, strict=True):
            top = np.argsort(-probs, kind="stable")[: args.top_k]
            record.update(digit=int(top[0]), probability=float(probs[top[0]]),
                          top_k=[{"digit": int(d), "probability": float(probs[d])} for d in top],
                          probabilities=[float(p) for p in probs])
            if args.show_input is not None:
                record["input_image"] = str(_save_input(image, record["file"], args.show_input,
                                                       saved))

    for record in records:
        if "error" in record:
            print(f"digitnet: error: {record['error']}", file=sys.stderr)
        elif not args.json:
            ranked = ", ".join(f"{t['digit']} ({100 * t['probability']:.1f}%)"
                               for t in record["top_k"])
            print(f"{record['file']}: {ranked}")
    if args.json:
        print(json.dumps(records, indent=2))
    return EXIT_ERROR if len(ok) < len(records) else 0


def _save_input(image: Any, source: str, directory: Path, saved: set[Path]) -> Path:
    """Write a (28, 28) uint8 network input as DIR/<name of source>.png; a name already
    in `saved` (written by this run) gets a -2, -3 ... suffix. Returns the path written."""
    from PIL import Image

    from .errors import ImageError

    try:
        stem = Path(source).stem or "image"
        path, n = directory / f"{stem}.png", 1
        while path in saved:
            n += 1
            path = directory / f"{stem}-{n}.png"
        Image.fromarray(image).save(path)
    except OSError as e:
        raise ImageError(f"{directory}: cannot write the input image ({e.strerror or e})") \
            from None
    saved.add(path)
    return path


def _add_export_parser(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="write a model as a standard ONNX graph",
        description="Convert a model file to ONNX (MatMul/Add/Relu/Softmax, float32, dynamic "
                    "batch). Input 'pixels': float32 (N, 784) on 0..255, the flattened output "
                    "of digitnet.preprocess. Output 'probabilities': float32 (N, 10).")
    _model_argument(export)
    export.add_argument("--onnx", type=Path, required=True, metavar="OUT",
                        help="where to write the .onnx file")
    export.set_defaults(run=cmd_export)


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .export import export_onnx
    from .model import load_model

    model = load_model(args.model)
    export_onnx(model, args.onnx)
    print(f"ONNX model written to {args.onnx}")
    return 0


def _add_augment_parser(sub: Any) -> None:
    augment = sub.add_parser(
        "augment", help="draw training digits with random distortions, to judge augmentation",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Write a PNG grid: each row is one training image, first as it is, then "
                    "randomly distorted as training with these settings would see it.")
    augment.add_argument("--out", type=Path, required=True, metavar="FILE.png",
                         help="where to write the grid")
    augment.add_argument("--preset", choices=sorted(PRESETS), default="best",
                         help="augmentation settings to start from")
    augment.add_argument("--samples", type=int, default=8, help="training images (rows)")
    augment.add_argument("--copies", type=int, default=9, help="distortions of each (columns)")
    augment.add_argument("--seed", type=int, default=0, help="random seed for the distortions")
    _config_flags(augment, only=AUGMENT_FIELDS)
    augment.set_defaults(run=cmd_augment)


def cmd_augment(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np

    from .augment import sample_grid
    from .data import load_mnist
    from .images import save_png

    if not 1 <= args.samples <= 100 or not 1 <= args.copies <= 100:
        parser.error(f"--samples and --copies must be in 1..100, got {args.samples} and "
                     f"{args.copies}")
    config = _build_config(args, PRESETS[args.preset], parser)
    images = load_mnist().x_train[: args.samples]
    grid = sample_grid(images, np.random.default_rng(args.seed), config.augmentation, args.copies)
    save_png(255 - grid, args.out, scale=3)  # dark ink on white, enlarged
    print(f"{args.samples} x {args.copies} distortions ({config.augmentation}) written to "
          f"{args.out}")
    return 0


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="draw a digit in the browser and watch the model guess",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Serve a page to draw digits on, and a JSON API (POST /api/predict, "
                    "GET /api/model, GET /healthz; OpenAPI spec at /openapi.json). "
                    "Needs the web extra: pip install 'digitnet[web]'.")
    _model_argument(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 opens it to the network")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (0 picks a free one)")
    serve.add_argument("-q", "--quiet", action="store_true", help="don't log each request")
    serve.set_defaults(run=cmd_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 0..65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: expected 0..65535")
    return port


def cmd_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .server import serve

    serve(args.model, host=args.host, port=args.port, quiet=args.quiet)
    return 0
