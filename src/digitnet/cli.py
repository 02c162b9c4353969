"""The `digitnet` command: a thin layer over the Python API.

    digitnet train [--preset fast|seed] [--epochs N] [--out model.npz] [--plot FILE.png] ...
    digitnet evaluate [MODEL] [--data-dir DIR] [--json FILE|-]
    digitnet report MODEL --out DIR [--data-dir DIR]
    digitnet predict [MODEL] IMAGE... [--top-k K] [--json] [--show-input DIR]
    digitnet read [MODEL] IMAGE... [--json] [--show-input DIR]
    digitnet export MODEL --onnx OUT.onnx
    digitnet committee MODEL MODEL... --out FILE [--float16]
    digitnet adapt MODEL DIR --out FILE   (cli_adapt.py)
    digitnet serve [MODEL] [--host 127.0.0.1] [--port 8000]
    digitnet augment --out FILE.png [--preset best] ...
    digitnet sweep --study NAME --space FILE.toml [--storage URL] [--trials N] ...
    digitnet sweep show|best|report --study NAME [--storage URL] ...

MODEL is a model file, or `builtin` for the recognizer packaged with digitnet (the
default for predict, read, evaluate and serve; cli_help.MODEL_RULE says how predict and
read tell a model from a picture); a file called builtin in the current directory is
`./builtin`. The words of --help (examples, the presets table) are in cli_help.py.

Only this module sees argparse. Errors caused by input (bad files, bad flags, a diverging
run) print one line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cli_help
from .cli_help import HelpFormatter
from .config import PRESETS, Config
from .constants import CLASSES, architecture
from .errors import DigitnetError, OutputError, UsageError
from .files import check_outputs, json_text, write_text
from .show_input import ShowInput
from .terminal import (
    StdoutError,
    Terminated,
    guarded_stdout,
    shown,
    shown_lines,
    sigterm_as_interrupt,
    silence_stdout,
)
from .version import __version__

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process killed by it


# What a checkpoint fixes: its arrays' shapes and dtype, the inputs they were trained on,
# the optimizer whose buffers it holds. `--resume` refuses flags that change these.
RESUME_FIXED = ("hidden", "biases", "dtype", "init", "init_scale", "input_scale", "optimizer",
                "val_split")

AUGMENT_FIELDS = ("aug_rotation", "aug_scale", "aug_shear", "aug_translate", "elastic_alpha",
                  "elastic_sigma", "aug_styles")


def _config_flags(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One flag per Config field (or per field in `only`); defaults come from the preset."""
    group = parser.add_argument_group("training settings (override the preset)")
    for f in dataclasses.fields(Config):
        if f.name == "preset" or (only is not None and f.name not in only):
            continue
        kwargs: dict[str, Any] = {"default": None, "help": cli_help.setting_help(f)}
        if f.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[f.type]
            kwargs["metavar"] = "N" if f.type in ("int", int) else "X" if f.type in (
                "float", float) else f.name.upper()
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
                kwargs.pop("metavar")
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kwargs)


def _model_file(name: str) -> Path:
    """The file a MODEL argument names ("builtin": the packaged one), to keep outputs off it."""
    from .model import BUILTIN, builtin_path

    return builtin_path() if name == BUILTIN else Path(name)


def _data_dir_argument(parser: argparse.ArgumentParser, example: str = "") -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"directory with the four idx files{example} (default: bundled MNIST)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitnet", description="Handwritten digit recognition with a NumPy neural network.",
        epilog=cli_help.TOP, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_report_parser(sub)
    _add_predict_parser(sub)
    _add_read_parser(sub)
    _add_export_parser(sub)
    _add_committee_parser(sub)
    _add_threshold_parser(sub)
    _add_serve_parser(sub)
    _add_augment_parser(sub)
    _add_sweep_parser(sub)
    from .cli_adapt import add_adapt_parser  # digitnet adapt: its own module
    add_adapt_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        with guarded_stdout(), sigterm_as_interrupt():
            args = parser.parse_args(argv)
            return args.run(args, parser)
    except DigitnetError as e:
        if isinstance(e, StdoutError):
            silence_stdout()
        print(f"digitnet: error: {shown(e)}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print("digitnet: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("digitnet: interrupted by user", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("digitnet: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. `| head`
        silence_stdout()
        return EXIT_ERROR


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a network on MNIST and report test accuracy",
                           usage="digitnet train [--preset NAME] [--out FILE.npz] [options]",
                           epilog=cli_help.TRAIN + cli_help.preset_table(),
                           formatter_class=HelpFormatter)
    train.add_argument("--preset", choices=list(PRESETS), default=None,
                       help="starting settings, see the table below (default: the config "
                            "file's preset, else fast)")
    train.add_argument("--config", type=Path, default=None, metavar="FILE",
                       help="a .toml or .json file of settings (e.g. from 'digitnet sweep "
                            "best'); flags override it, it overrides the preset")
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
    train.add_argument("--float16", action="store_true",
                       help="store the weights as float16 in --out: half the file; the test "
                            "accuracy and reject threshold are measured on the rounded weights")
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
    if "threads" in record:
        parts.append(f"{record['threads']} thread{'s' if record['threads'] > 1 else ''}")
    return "  ".join(parts)


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .classifier import Classifier
    from .data import load_mnist
    from .modelfile import as_stored
    from .train import measure

    _check_output_paths(args)  # fail now, not after the training run
    state = None
    if args.resume is not None:
        if args.config is not None:
            parser.error("--config cannot be combined with --resume (the checkpoint holds "
                         "the settings)")
        base, state = load_checkpoint(args.resume)
        _check_resume_flags(args, base)
    else:
        base = _base_config(args.preset, args.config)
    config = _build_config(args, base, parser)
    if args.float16 and config.dtype != "float32":
        parser.error(f"--float16 stores float32 weights; this run's dtype is {config.dtype}")
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
              f"checkpoint saved to {shown(checkpoint)}. Resume with: digitnet train "
              f"--resume {shown(checkpoint)}", file=sys.stderr)

    if not args.quiet:
        resumed = f", resuming after epoch {state.epoch}" if state is not None else ""
        print(f"training {architecture(config.hidden)} ({config.preset} preset{resumed}) on "
              f"{shown(data.source)}: {len(data.x_train) - config.val_split} train, "
              f"{config.val_split} validation, {len(data.x_test)} test images", flush=True)
    clf = Classifier(config).fit(
        data.x_train, data.y_train, test=(data.x_test, data.y_test), state=state,
        progress=_progress_factory(args.quiet), on_epoch=on_epoch, on_interrupt=on_interrupt,
        metadata=meta)

    result, model = clf.result_, clf.model_
    if args.float16:  # what the file will hold, measured as the file will give it back
        model.params = as_stored(model.params, "float16")
        model.metadata.update(measure(model.params, config, data))
    stop = f" (stopped early; kept epoch {result.best_epoch})" if result.stopped_early else ""
    stored = " (float16 weights)" if args.float16 else ""
    print(f"test accuracy {100 * model.metadata['test_accuracy']:.2f}%{stored}  test loss "
          f"{model.metadata['test_loss']:.4f}  train time {result.train_seconds:.1f}s{stop}")
    if args.out is not None:
        model.save(args.out, stored_as="float16" if args.float16 else None)
        print(f"model saved to {shown(args.out)}")
    else:
        print("the model was not kept: add --out FILE.npz to save it")
    if args.metrics_json is not None:
        metrics = {"test_accuracy": model.metadata["test_accuracy"],
                   "test_loss": model.metadata["test_loss"],
                   "train_seconds": result.train_seconds, "epochs": len(result.history),
                   "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                   "history": result.history, "config": config.to_dict()}
        write_text(args.metrics_json, json_text(metrics, indent=2) + "\n", "metrics")
    if args.plot is not None:
        from .report import plot_learning_curves

        plot_learning_curves(result.history, args.plot,
                             f"Learning curves ({architecture(config.hidden)}, "
                             f"{config.preset} preset, {data.source})")
        print(f"learning curves written to {shown(args.plot)}")
    return 0


def _base_config(preset: str | None, config_file: Path | None) -> Config:
    """The settings flags apply to: the preset (the flag's, else the file's, else fast)
    with the config file's fields on top."""
    from .config import read_config_file

    values = read_config_file(config_file) if config_file is not None else {}
    name = preset or values.pop("preset", "fast")
    values.pop("preset", None)
    return dataclasses.replace(PRESETS[name], **values)


def _check_output_paths(args: argparse.Namespace) -> None:
    """Before training: every file the run will write can be written, none is another or
    the checkpoint resumed from (the Ctrl-C checkpoint may replace it: that is its job),
    and matplotlib is installed if a plot was asked for. A run is never lost to a typo."""
    from .data import data_files

    results = [("--out", args.out), ("--metrics-json", args.metrics_json), ("--plot", args.plot)]
    data = [("data file", path) for path in data_files(args.data_dir)]
    if args.checkpoint is not None or args.out is None:
        checkpoint = ("--checkpoint", args.checkpoint)
    else:  # where Ctrl-C would save
        checkpoint = ("the Ctrl-C checkpoint", args.out.with_suffix(".checkpoint.npz"))
    check_outputs([*results, checkpoint], data)
    check_outputs(results, [("--resume checkpoint", args.resume),
                            ("--config file", args.config)])
    if args.plot is not None:
        from .report import require_matplotlib

        require_matplotlib()


def _check_resume_flags(args: argparse.Namespace, checkpoint: Config) -> None:
    """Refuse, before training, a flag that changes what the checkpoint fixes."""
    for name in RESUME_FIXED:
        given, fixed = getattr(args, name, None), getattr(checkpoint, name)
        if given is not None and given != fixed:
            flag = "--" + name.replace("_", "-")
            if isinstance(given, bool):
                flag = flag if given else "--no-" + flag[2:]
                shown = flag
            else:
                shown = f"{flag} {given}"
            raise UsageError(f"{shown} conflicts with the checkpoint {args.resume}, which was "
                              f"trained with {name} {fixed!r}; a resumed run keeps its "
                              f"architecture, dtype, input scaling, optimizer and validation "
                              f"split")


def _add_evaluate_parser(sub: Any) -> None:
    evaluate = sub.add_parser(
        "evaluate", help="measure a saved model on the test set",
        description="Print test accuracy and loss, per-class precision/recall/F1, the "
                    "confusion matrix and the most confused pairs of a saved model.",
        epilog=cli_help.EVALUATE, formatter_class=HelpFormatter)
    cli_help.model_argument(evaluate, optional=True)
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
    cli_help.model_argument(report)
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
    from .data import data_files
    from .evaluation import format_text

    to_stdout = args.json is not None and str(args.json) == "-"
    if args.json is not None and not to_stdout:
        check_outputs([("--json", args.json)], [("model file", _model_file(args.model)), *(
            ("data file", path) for path in data_files(args.data_dir))])
    _, _, evaluation = _evaluate_saved_model(args.model, args.data_dir)
    figures = json_text({"model": str(args.model), **evaluation.to_dict()}, indent=2) + "\n"
    if to_stdout:
        sys.stdout.write(figures)
        return 0
    print(shown_lines(format_text(evaluation)))
    if args.json is not None:
        write_text(args.json, figures, "JSON")
    return 0


def cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .report import REPORT_FILES, require_matplotlib, write_report

    require_matplotlib()  # before the slow part
    if args.out.exists() and not args.out.is_dir():
        raise OutputError(f"--out {args.out}: is a file; the report needs a directory")
    if args.out.is_dir():  # the report replaces files of its names there, never the model
        from .data import data_files

        check_outputs([("report file", args.out / name) for name in REPORT_FILES],
                      [("model file", _model_file(args.model)), *(
                          ("data file", path) for path in data_files(args.data_dir))])
    model, images, evaluation = _evaluate_saved_model(args.model, args.data_dir)
    written = write_report(model, evaluation, images, args.out, Path(args.model).name)
    print(f"test accuracy {100 * evaluation.accuracy:.2f}%  test loss {evaluation.loss:.4f}  "
          f"({len(images)} images from {evaluation.source})")
    print(f"report written to {shown(args.out)}: {', '.join(written)}")
    print(f"open {shown(written['index.html'])} in a browser")
    return 0


def _images_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                        help="image files (PNG, JPEG, BMP, GIF, TIFF, WebP) or directories")


def _add_predict_parser(sub: Any) -> None:
    predict = sub.add_parser(
        "predict", help="classify pictures of handwritten digits",
        description="Classify pictures of single handwritten digits. Each picture is "
                    "preprocessed as MNIST was made: grayscale, ink made bright, cropped to "
                    "the ink, fit in 20x20 and centered by mass in 28x28.",
        epilog=cli_help.PREDICT, formatter_class=HelpFormatter)
    cli_help.model_argument(predict, optional=None)
    _images_argument(predict)
    predict.add_argument("--top-k", type=int, default=1, metavar="K",
                         help="show the K most likely digits with their probabilities")
    predict.add_argument("--json", action="store_true",
                         help="print a JSON list: file, digit (null for not a digit), "
                              "digit_score, probabilities (or error)")
    predict.add_argument("--show-input", type=Path, default=None, metavar="DIR",
                         help="save the 28x28 image the network saw for each file in DIR")
    _reject_arguments(predict)
    predict.set_defaults(run=cmd_predict)


def _reject_arguments(parser: argparse.ArgumentParser) -> None:
    """--threshold and --no-reject: when a picture is "not a digit", for this run."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=_unit_interval, default=None, metavar="T",
                       help="decline pictures whose digit score (largest probability) is "
                            "under T, 0..1 (default: the model's own threshold)")
    group.add_argument("--no-reject", action="store_true",
                       help="never answer 'not a digit': always give the best guess")


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") \
            from None
    if not 0.0 <= value <= 1.0:  # (NaN fails this too)
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def _rejecting(model: Any, args: argparse.Namespace) -> Any:
    """The model with the threshold --threshold or --no-reject asks for, if any."""
    if getattr(args, "no_reject", False):
        return model.with_threshold(0.0)
    if getattr(args, "threshold", None) is not None:
        return model.with_threshold(args.threshold)
    return model


def cmd_predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Predict every image; a file that fails gets its own error line, the rest go on.
    A picture the model declines is an answer ("not a digit"), not an error."""
    import numpy as np

    from .images import preprocess_file
    from .model import load_model

    if not 1 <= args.top_k <= CLASSES:
        parser.error(f"--top-k must be between 1 and {CLASSES}, got {args.top_k}")
    cli_help.model_and_images(args, parser)
    model = _rejecting(load_model(args.model), args)
    records = _each_image(args.images, preprocess_file, key="input")
    ok = [r for r in records if "error" not in r]
    outputs = ShowInput(args.show_input, args.images, _model_file(args.model))
    inputs = [r.pop("input") for r in ok]  # (28, 28) uint8 each
    if ok:
        probabilities = model.predict_proba(np.stack(inputs))  # (n, 10)
        for record, probs, image in zip(ok, probabilities, inputs, strict=True):
            top = np.argsort(-probs, kind="stable")[: args.top_k]
            score = float(probs[top[0]])
            declined = bool(model.declines(score))
            record.update(digit=None if declined else int(top[0]), probability=score,
                          reason="not a digit" if declined else None, digit_score=score,
                          top_k=[{"digit": int(d), "probability": float(probs[d])} for d in top],
                          probabilities=[float(p) for p in probs])
            if args.show_input is not None:
                try:
                    record["input_image"] = str(outputs.save(image, Path(record["file"]).stem))
                except OutputError as e:
                    record["input_image_error"] = str(e)

    def line(record: dict[str, Any]) -> str:
        if record["digit"] is None:
            return f"{shown(record['file'])}: not a digit (score {record['digit_score']:.2f})"
        ranked = ", ".join(f"{t['digit']} ({percent(t['probability'], 1)})"
                           for t in record["top_k"])
        return f"{shown(record['file'])}: {ranked}"

    return _print_records(records, args.json, line)


def percent(p: float, decimals: int) -> str:
    """A probability as a percentage with `decimals` decimals, never rounded to certainty:
    0.99996 is ">99.9%", not "100.0%", and 0.00004 is "<0.1%". Exactly 0 and 1 stay."""
    step = 10.0 ** -decimals
    if 0 < p < 1 and round(100 * p, decimals) >= 100:
        return f">{100 - step:.{decimals}f}%"
    if 0 < p < 1 and round(100 * p, decimals) <= 0:
        return f"<{step:.{decimals}f}%"
    return f"{100 * p:.{decimals}f}%"


def _print_records(records: list[dict[str, Any]], as_json: bool,
                   line: Callable[[dict[str, Any]], str]) -> int:
    """Print each file's answer, `line(record)`, or with as_json all records at the end;
    every failure gets its own error line on stderr. Returns EXIT_ERROR if any failed."""
    failed = 0
    for record in records:
        if "error" in record:
            print(f"digitnet: error: {shown(record['error'])}", file=sys.stderr)
            failed += 1
            continue
        if not as_json:
            print(line(record))
        if "input_image_error" in record:  # answered, but --show-input could not write
            print(f"digitnet: error: {shown(record['input_image_error'])}", file=sys.stderr)
            failed += 1
    if as_json:
        print(json_text(records, indent=2))
    return EXIT_ERROR if failed else 0


def _each_image(given: list[Path], work: Any, key: str) -> list[dict[str, Any]]:
    """Run work(path) on every image file named or inside a named directory, in order.

    Returns one record per file: {"file", key: what work returned}, or {"file", "error"}
    when listing or work raised ImageError; one bad file never stops the others."""
    from .errors import ImageError
    from .images import list_images

    records: list[dict[str, Any]] = []
    for path in given:
        try:
            files = list_images([path])
        except ImageError as e:
            records.append({"file": str(path), "error": str(e)})
            continue
        for file in files:
            try:
                records.append({"file": str(file), key: work(file)})
            except ImageError as e:
                records.append({"file": str(file), "error": str(e)})
    return records


def _add_read_parser(sub: Any) -> None:
    read = sub.add_parser(
        "read", help="read whole handwritten numbers (several digits in one picture)",
        description="Read the number written in each picture: the digits are found "
                    "(connected strokes, pieces of one digit joined, touching digits cut "
                    "where the network is surest of both sides), ordered left to right, and "
                    "each is preprocessed and classified as 'predict' does one digit.",
        epilog=cli_help.READ, formatter_class=HelpFormatter)
    cli_help.model_argument(read, optional=None)
    _images_argument(read)
    read.add_argument("--json", action="store_true",
                      help="print a JSON list: file, number, digits with probability and box "
                           "(or error)")
    read.add_argument("--show-input", type=Path, default=None, metavar="DIR",
                      help="save each picture with its digits' numbered boxes, and each "
                           "digit's 28x28 input, in DIR")
    _reject_arguments(read)
    read.set_defaults(run=cmd_read)


def cmd_read(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Read the number in every image; a file that fails gets its own error line."""
    from .errors import ImageError
    from .images import load_image
    from .model import load_model
    from .segment import read_number

    cli_help.model_and_images(args, parser)
    model = _rejecting(load_model(args.model), args)
    outputs = ShowInput(args.show_input, args.images, _model_file(args.model))
    unsaved: dict[Path, str] = {}  # file -> why its --show-input pictures were not written

    def read(path: Path) -> Any:
        picture = load_image(path)  # its errors name the file
        try:
            reading = read_number(model, picture)
        except ImageError as e:  # blank, or no digits
            raise ImageError(f"{path}: {e}") from None
        if args.show_input is not None:
            try:
                outputs.save_reading(path, picture, reading)
            except OutputError as e:
                unsaved[path] = str(e)
        return reading

    records = _each_image(args.images, read, key="reading")
    for record in records:
        if "reading" in record:
            record.update(record.pop("reading").to_dict())
            if Path(record["file"]) in unsaved:
                record["input_image_error"] = unsaved[Path(record["file"])]

    def line(record: dict[str, Any]) -> str:
        sure = ", ".join(percent(d["probability"], 0) + "?" * d["doubtful"]
                         for d in record["digits"])
        if record["number"] is None:  # words, a face, stars, a scribble
            return f"{shown(record['file'])}: not a number ({sure})"
        return f"{shown(record['file'])}: {record['number']} ({sure})"

    return _print_records(records, args.json, line)


def _add_export_parser(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="write a model as a standard ONNX graph",
        description="Convert a model file to ONNX (standard ops, float32, dynamic batch; "
                    "the deskew too, for models trained with it). Input 'pixels': float32 "
                    "(N, 784) on 0..255, the flattened output of digitnet.preprocess. Outputs "
                    "'probabilities' and 'logits': float32 (N, 10). The reject threshold is "
                    "in the file's metadata.")
    cli_help.model_argument(export)
    export.add_argument("--onnx", type=Path, required=True, metavar="OUT",
                        help="where to write the .onnx file")
    export.set_defaults(run=cmd_export)


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .export import export_onnx
    from .model import load_model

    check_outputs([("--onnx", args.onnx)], [("model file", _model_file(args.model))])
    model = load_model(args.model)
    export_onnx(model, args.onnx)
    print(f"ONNX model written to {shown(args.onnx)}")
    return 0


def _add_committee_parser(sub: Any) -> None:
    committee = sub.add_parser(
        "committee", help="average several trained networks into one model file",
        description="Average the outputs of networks trained alike from different seeds (and "
                    "the same --split-seed). The result is one wider network in an ordinary "
                    "model file, measured on the MNIST test set, with its 'not a digit' "
                    "threshold set on the validation images its members held out.")
    committee.add_argument("models", nargs="+", metavar="MODEL",
                           help="two or more model files, or builtin")
    committee.add_argument("--out", type=Path, required=True, help="the committee's model file")
    committee.add_argument("--float16", action="store_true",
                           help="store the weights as float16: half the file, read back as "
                                "float32")
    _data_dir_argument(committee)
    committee.set_defaults(run=cmd_committee)


def _add_threshold_parser(sub: Any) -> None:
    threshold = sub.add_parser(
        "threshold", help="set a model's 'not a digit' threshold from its validation digits",
        formatter_class=HelpFormatter,
        description="Set the digit score under which a model declines a picture as 'not a "
                    "digit', so that a share RATE of the validation digits the model held "
                    "out in training fall below it, and write the model with it.")
    cli_help.model_argument(threshold)
    threshold.add_argument("--rate", type=_unit_interval, required=True,
                           help="share of the validation digits to decline, 0..1")
    threshold.add_argument("--out", type=Path, required=True, help="the model file to write")
    _data_dir_argument(threshold)
    threshold.set_defaults(run=cmd_threshold)


def cmd_threshold(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import dataclasses

    import numpy as np

    from .data import data_files, load_mnist
    from .model import Model, load_model
    from .modelfile import read_model_header
    from .reject import image_digit_scores
    from .train import held_out

    check_outputs([("--out", args.out)], [
        ("model file", _model_file(args.model)),
        *(("data file", path) for path in data_files(args.data_dir))])
    model = load_model(args.model)
    if not model.config.val_split:
        parser.error(f"{args.model}: the model held out no validation digits (val_split 0)")
    data = load_mnist(args.data_dir)
    _, held = held_out(len(data.x_train), model.config)
    scores = image_digit_scores(model.params, data.x_train[held], model.config)
    value = float(np.quantile(scores, args.rate))
    config = dataclasses.replace(model.config, reject_rate=args.rate)
    stored = read_model_header(_model_file(args.model))[1]["architecture"].get("stored_as")
    Model(model.params, config, {**model.metadata, "reject_threshold": value}).save(
        args.out, stored_as=stored)
    print(f"reject_threshold {value:.4f} (declines {100 * args.rate:g}% of the "
          f"{len(held):,} validation digits); written to {shown(args.out)}")
    return 0


def cmd_committee(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .committee import combine, load_members
    from .data import data_files, load_mnist

    check_outputs([("--out", args.out)], [
        *(("model file", _model_file(name)) for name in args.models),
        *(("data file", path) for path in data_files(args.data_dir))])
    data = load_mnist(args.data_dir)
    members = load_members(args.models, data)
    stored_as = "float16" if args.float16 else None
    model = combine(members, data, stored_as=stored_as)
    model.save(args.out, stored_as=stored_as)
    line = f"committee of {len(members)} ({architecture(model.hidden)}): test accuracy " \
           f"{100 * model.metadata['test_accuracy']:.2f}%"
    if "reject_threshold" in model.metadata:
        line += f", reject_threshold {model.reject_threshold:.4f}"
    print(f"{line}; written to {shown(args.out)}")
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
    augment.add_argument("--seed", type=_seed, default=0, help="random seed for the distortions")
    _config_flags(augment, only=AUGMENT_FIELDS)
    augment.set_defaults(run=cmd_augment)


def cmd_augment(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np

    from .augment import sample_grid
    from .data import data_files, load_mnist
    from .images import save_png

    if not 1 <= args.samples <= 100 or not 1 <= args.copies <= 100:
        parser.error(f"--samples and --copies must be in 1..100, got {args.samples} and "
                     f"{args.copies}")
    config = _build_config(args, PRESETS[args.preset], parser)
    check_outputs([("--out", args.out)], [("data file", path) for path in data_files()])
    mnist = load_mnist()
    images, labels = mnist.x_train[: args.samples], mnist.y_train[: args.samples]
    grid = sample_grid(images, np.random.default_rng(args.seed), config.augmentation, args.copies,
                       labels=labels)
    save_png(255 - grid, args.out, scale=3)  # dark ink on white, enlarged
    print(f"{args.samples} x {args.copies} distortions ({config.augmentation}) written to "
          f"{shown(args.out)}")
    return 0


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="draw a digit in the browser and watch the model guess",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Serve a page to draw digits and numbers on, and a JSON API (POST "
                    "/api/predict, POST /api/read, GET /api/model, GET /healthz; OpenAPI spec "
                    "at /openapi.json). "
                    "Needs the web extra: pip install 'digitnet[web]'.")
    cli_help.model_argument(serve, optional=True)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 opens it to the network")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (0 picks a free one)")
    serve.add_argument("-q", "--quiet", action="store_true", help="don't log each request")
    _reject_arguments(serve)
    serve.set_defaults(run=cmd_serve)


def cmd_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .server import serve

    threshold = 0.0 if args.no_reject else args.threshold
    serve(args.model, host=args.host, port=args.port, quiet=args.quiet, threshold=threshold)
    return 0


def _add_sweep_parser(sub: Any) -> None:
    from .sweep import GRACE_PERIOD, HEARTBEAT_INTERVAL, PRUNERS, SAMPLERS

    storage_help = ("SQLAlchemy URL of the study storage, e.g. postgresql://user@host:5432/db "
                    "to share a study between machines (default: sqlite:///digitnet-sweeps.db,"
                    " a file in the working directory)")
    sweep = sub.add_parser(
        "sweep", help="search settings on validation accuracy with Optuna (several workers "
                      "can share one study)",
        formatter_class=HelpFormatter,
        description="Run trials of a study in this process, creating it if it does not exist: "
                    "each trial trains with settings drawn from the search space and reports "
                    "validation accuracy every epoch, so bad trials are pruned. Run the same "
                    "command elsewhere to add a worker. The test set is never used. Needs the "
                    "sweep extra: pip install 'digitnet[sweep]'.")
    sweep.add_argument("--study", help="study name (required to run trials)")
    sweep.add_argument("--space", type=Path, metavar="FILE.toml",
                       help="search space: [fixed] Config fields and [params.NAME] ranges "
                            "(required)")
    sweep.add_argument("--storage", default=None, metavar="URL", help=storage_help)
    sweep.add_argument("--trials", type=_positive_int, default=20, metavar="N",
                       help="trials to run in this process")
    sweep.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                       help="start no new trial after S seconds")
    sweep.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="how to pick settings")
    sweep.add_argument("--pruner", choices=PRUNERS, default="median",
                       help="'median' stops a trial whose validation accuracy is below the "
                            "median of earlier trials at the same epoch")
    sweep.add_argument("--seed", type=_seed, default=None,
                       help="seed of the sampler (give each worker its own)")
    sweep.add_argument("--train-subset", type=_positive_int, default=None, metavar="N",
                       help="train on the first N training images only (validation is held "
                            "out from these), for quick searches")
    _data_dir_argument(sweep)
    sweep.add_argument("--heartbeat-interval", type=_interval, default=HEARTBEAT_INTERVAL,
                       metavar="S", help="seconds between a running trial's heartbeats")
    sweep.add_argument("--grace-period", type=_interval, default=GRACE_PERIOD, metavar="S",
                       help="a trial with no heartbeat for S seconds is failed and retried")
    sweep.add_argument("--json", action="store_true",
                       help="print this worker's trials and the best as JSON on stdout (trial "
                            "lines go to stderr)")
    sweep.set_defaults(run=cmd_sweep)

    actions = sweep.add_subparsers(dest="sweep_action", metavar="ACTION")
    show = actions.add_parser("show", help="list the trials of a study",
                              description="List every trial: number, state, validation "
                                          "accuracy, params, seconds.")
    best = actions.add_parser("best", help="write the best trial's settings as a config file",
                              description="Write every setting of the best trial to a TOML "
                                          "file for 'digitnet train --config'.")
    report = actions.add_parser(
        "report", help="write plots and an HTML page about a study",
        description="Write the optimization history, parameter importances, a slice plot per "
                    "parameter and index.html (needs digitnet[plot]).")
    for action in (show, best, report):
        action.add_argument("--study", required=True, help="study name")
        action.add_argument("--storage", default=None, metavar="URL", help=storage_help)
    show.add_argument("--json", action="store_true",
                      help='print {"trials": [...]}: number, state, value, params, seconds')
    best.add_argument("--out", type=Path, required=True, metavar="FILE.toml",
                      help="where to write the config file")
    report.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="directory for the report (created if missing; files in it with "
                             "the report's names are replaced)")
    show.set_defaults(run=cmd_sweep_show)
    best.set_defaults(run=cmd_sweep_best)
    report.set_defaults(run=cmd_sweep_report)


def _whole_number(what: str, low: int, high: int | None = None):
    """An argparse type: a whole number in low..high (no upper end when high is None);
    errors read 'invalid WHAT 70000: expected 0..65535'."""
    expected = f"{low}..{high}" if high is not None else (
        "a positive integer" if low == 1 else f"a whole number >= {low}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected {expected}") \
                from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"invalid {what} {value}: expected {expected}")
        return value

    return parse


_port = _whole_number("port", 0, 65535)
_positive_int = _whole_number("value", 1)
_seed = _whole_number("seed", 0, 2**32 - 1)  # what NumPy's and Optuna's generators take
_interval = _whole_number("seconds", 1, 86400)


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: expected a number > 0")
    return value


def cmd_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import sweep
    from .data import load_mnist

    for flag, value in (("--study", args.study), ("--space", args.space)):
        if value is None:
            parser.error(f"{flag} is required (or an action: show, best, report)")
    sweep.require_optuna()
    space = sweep.load_space(args.space, args.sampler)  # every error before anything runs
    data = load_mnist(args.data_dir)
    n = min(args.train_subset or len(data.x_train), len(data.x_train))
    if space.config({}).val_split >= n:
        raise DigitnetError(f"val_split {space.config({}).val_split} must be smaller than the "
                            f"{n} training images")
    note = {"source": data.source, "images": n, "sha256": data.sha256}
    out = sys.stderr if args.json else sys.stdout
    bar = _trial_bar(args.trials)

    def on_trial(record: dict[str, Any], best: dict[str, Any] | None) -> None:
        line = sweep.format_record(record, best)
        if bar is not None:
            bar.write(line, file=out)
            bar.update(1)
        else:
            print(line, file=out, flush=True)

    if not args.json:
        print(f"study {args.study!r} in {sweep.display_url(sweep.storage_url(args.storage))}: "
              f"{args.trials} trials on {n} images of {data.source} "
              f"({space.config({}).val_split} held out for validation)", flush=True)
    try:
        result = sweep.run(
            args.study, space, data.x_train[:n], data.y_train[:n], storage=args.storage,
            trials=args.trials, timeout=args.timeout, sampler=args.sampler, pruner=args.pruner,
            seed=args.seed, data_note=note, on_trial=on_trial,
            heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period)
    finally:
        if bar is not None:
            bar.close()
    best = result.best
    if args.json:
        print(json_text({"study": args.study, "trials": result.trials, "best": best},
                        indent=2))
    elif best is not None:
        print(f"best so far: trial {best['number']}, validation {100 * best['value']:.2f}%, "
              + ", ".join(f"{k}={v}" for k, v in best["params"].items()))
    return 0


def _trial_bar(total: int):
    """A tqdm bar over trials on a terminal; None when stderr is not one."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="trials", unit="trial", dynamic_ncols=True)


def cmd_sweep_show(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import sweep

    with sweep.storage_failures(args.storage):
        records = sweep.trial_records(sweep.load_study(args.study, args.storage))
    if args.json:
        print(json_text({"trials": records}, indent=2))
        return 0
    for record in records:
        print(sweep.format_record(record))
    print(f"{len(records)} trials, {sum(r['state'] == 'COMPLETE' for r in records)} complete")
    return 0


def cmd_sweep_best(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import sweep
    from .config import to_toml

    sweep.require_optuna()
    check_outputs([("--out", args.out)], [("sweep database", sweep.sqlite_path(args.storage))])
    with sweep.storage_failures(args.storage):
        config, best = sweep.best_config(sweep.load_study(args.study, args.storage))
    comment = (f"digitnet sweep best: study {args.study!r}, trial {best['number']}, "
               f"validation accuracy {100 * best['value']:.2f}%\n"
               f"train it with: digitnet train --config {args.out.name}")
    text = to_toml(config.to_dict(), comment)
    write_text(args.out, text, "config")
    print(f"trial {best['number']} (validation {100 * best['value']:.2f}%) written to "
          f"{shown(args.out)}")
    return 0


def cmd_sweep_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import sweep
    from .report import require_matplotlib
    from .sweep_report import write_report

    require_matplotlib()
    with sweep.storage_failures(args.storage):
        written = write_report(sweep.load_study(args.study, args.storage), args.out)
    print(f"report written to {shown(args.out)}: {', '.join(written)}")
    print(f"open {shown(written['index.html'])} in a browser")
    return 0
