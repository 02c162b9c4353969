"""How well `digitnet adapt` learns a writer, and how long it takes: prints JSON.

    python benchmarks/adapt.py [MODEL] [--writers 30] [--compare] [--no-timing]

Measured on DEVELOPMENT data only (nothing here is a reported set):
  writers      `--writers` development writers (benchmarks/writers.py), each drawing 20
               of every digit in one consistent style; for k = 1, 3, 10 the model is
               adapted to the writer's first k of each digit and read on the writer's last
               10 of each digit (never learnt from), per writer.
  group        the FIRST half of scikit-learn's load_digits (the second half is reserved
               for reporting; nothing is chosen on it), as a group of writers the model
               never saw: k random examples of each digit are learnt, the rest of the
               half is read. Two renderings: "smooth" (8x8 upsampled bicubically, as
               benchmarks/model_dev.py makes them) and "blocky" (each 8x8 cell thresholded
               at half ink and enlarged: a scanned, thresholded page at low resolution).
A declined picture ("not a digit") counts as wrong everywhere. After adapting, the model
is also read on MNIST's test set (as a user would run `digitnet evaluate`), on the MNIST
validation digits the base held out (share declined), and on development non-digits
(nondigits.VALIDATION_KINDS, share declined).

`--compare` runs every method of adapt.py (and the variants docs/adapt.md discusses)
on the same data; `timing` is the wall time of `digitnet adapt MODEL DIR` on 100
pictures (10 of each digit), as a subprocess, median of 3 runs, and of one correction
on the web page (adapt_model on 10 corrections with the server's prepared replay and one
BLAS thread, as `digitnet serve` runs; median of 5), with the CPU seconds
of each run and the machine's load average (other programs slow a shared machine down).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from writers import Writer, writer_digits

from digitnet import load_mnist, load_model, network, nondigits, preprocess, train
from digitnet.adapt import (
    AdaptSettings,
    adapt_params,
    hidden,
    prepare_replay,
    reject_threshold,
    with_copies,
)
from digitnet.inputs import network_inputs

KS = (1, 3, 10)
PER_DIGIT = 20  # pictures of each digit per writer: the first 10 to learn from, the last 10
#                 to read
VARIANTS = {  # name -> settings changed from the defaults, for --compare
    "output (chosen)": {},
    "output, replay taught labels": {"replay_targets": "labels"},
    "output, no distorted copies": {"copies": 0},
    "output, no replay": {"replay_digits": 0, "replay_nondigits": 0},
    "prototypes": {"method": "prototypes", "copies": 0},
    "featuremap": {"method": "featuremap"},
    "both layers, small lr": {"method": "both", "lr": 1e-4, "steps": 30, "batch": 128},
}


def sklearn_half(rendering: str) -> tuple[np.ndarray, np.ndarray]:
    """The first half of load_digits, preprocessed: (n, 28, 28) uint8 and labels (n,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    cut = len(digits.images) // 2
    pictures = []
    for small in digits.images[:cut]:
        if rendering == "smooth":
            ink = Image.fromarray((small * (255 / 16)).astype(np.float32))
            ink = np.asarray(ink.resize((64, 64), Image.Resampling.BICUBIC))
        else:  # blocky: thresholded cells, enlarged 8 times
            ink = np.kron(small >= 8, np.ones((8, 8))) * 255.0
        paper = np.pad(255 - np.clip(ink, 0, 255), 16, constant_values=255)
        pictures.append(preprocess(paper.astype(np.uint8)))
    return np.stack(pictures), digits.target[:cut].astype(np.int64)


def writer_sets(count: int, seed: int = 7) -> list[tuple[Writer, np.ndarray, np.ndarray]]:
    """`count` writers with PER_DIGIT preprocessed pictures of each digit."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        writer = Writer.random(rng)
        pictures, labels = writer_digits(writer, PER_DIGIT, rng)
        out.append((writer, np.stack([preprocess(p) for p in pictures]), labels))
    return out


class Bench:
    """The base model, its replay, and the fixed sets everything is read on."""

    def __init__(self, model_name: str, writers: int):
        self.model = load_model(model_name)
        self.config = self.model.config
        self.mnist = load_mnist()
        self.writers = writer_sets(writers)
        self.groups = {name: sklearn_half(name) for name in ("smooth", "blocky")}
        _, held = train.held_out(len(self.mnist.x_train), self.config)
        self.y_val = self.mnist.y_train[held]
        self.x_test = network_inputs(self.mnist.x_test, self.config)
        self.h_test = hidden(self.model.params, self.x_test)
        rng = np.random.default_rng(5)
        self.x_nondigits = network_inputs(np.concatenate(
            [nondigits.generate(kind, 100, rng) for kind in nondigits.VALIDATION_KINDS]),
            self.config)
        self.replays: dict = {}

    def replay(self, settings: AdaptSettings):
        key = (settings.replay_digits, settings.replay_nondigits, settings.seed,
               settings.method == "both")  # only "both" keeps the validation inputs
        if key not in self.replays:
            self.replays[key] = prepare_replay(self.model, self.mnist, settings)
        return self.replays[key]

    def adapt(self, images: np.ndarray, labels: np.ndarray, settings: AdaptSettings):
        """(params, threshold) of the model adapted to these examples, as adapt_model."""
        replay = self.replay(settings)
        x, y = with_copies(images, labels, settings.copies,
                           np.random.default_rng([settings.seed, 37]))
        params = adapt_params(self.model.params, network_inputs(x, self.config), y, replay,
                              settings, self.config.label_smoothing)
        threshold = reject_threshold(params, self.model.params, replay)
        return params, self.model.reject_threshold if threshold is None else threshold

    def outputs(self, params, h: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Outputs (n, 10) from the stored hidden layer when W1 is the base's."""
        if params["W1"] is self.model.params["W1"]:
            return h @ params["W2"] + params.get("b2", 0)
        return network.outputs(params, x)

    def read_right(self, params, threshold: float, images: np.ndarray,
                   labels: np.ndarray) -> float:
        p = network.softmax(network.outputs(params, network_inputs(images, self.config)))
        return float(np.mean((p.argmax(axis=1) == labels) & (p.max(axis=1) >= threshold)))

    def side_effects(self, params, threshold: float) -> dict:
        replay = self.replays[next(iter(self.replays))]
        z_test = self.outputs(params, self.h_test, self.x_test)
        z_val = self.outputs(params, replay.h_val, replay.x_val) if len(replay.h_val) else None
        nondigit = network.softmax(network.outputs(params, self.x_nondigits)).max(axis=1)
        figures = {"mnist_test_accuracy": float(np.mean(z_test.argmax(axis=1)
                                                        == self.mnist.y_test)),
                   "nondigits_declined": float(np.mean(nondigit < threshold))}
        if z_val is not None:
            figures["mnist_val_declined"] = float(np.mean(
                network.softmax(z_val).max(axis=1) < threshold))
        return figures


def run(bench: Bench, settings: AdaptSettings, side_writers: int = 5) -> dict:
    """Every figure of one adaptation setting."""
    base_params, base_threshold = bench.model.params, bench.model.reject_threshold
    out: dict = {"writers": {}, "group": {}}
    for k in KS:
        rows, errors, after_side = [], [0, 0], []
        for i, (_, images, labels) in enumerate(bench.writers):
            index = np.arange(len(labels)) % PER_DIGIT
            learn, read = index < k, index >= PER_DIGIT - 10
            params, threshold = bench.adapt(images[learn], labels[learn], settings)
            before = bench.read_right(base_params, base_threshold, images[read], labels[read])
            after = bench.read_right(params, threshold, images[read], labels[read])
            rows.append((before, after))
            errors[0] += 1 - before
            errors[1] += 1 - after
            if i < side_writers:
                after_side.append(bench.side_effects(params, threshold))
        out["writers"][f"k{k}"] = {
            "base_read_right": float(np.mean([r[0] for r in rows])),
            "adapted_read_right": float(np.mean([r[1] for r in rows])),
            "error_reduction": 1 - errors[1] / errors[0] if errors[0] else None,
            "worst_writer_adapted": float(min(r[1] for r in rows)),
            f"after_adapting_first_{side_writers}_writers": _mean(after_side)}
    for name, (images, labels) in bench.groups.items():
        base = bench.read_right(base_params, base_threshold, images, labels)
        out["group"][name] = {"base_read_right_whole_half": base}
        for k in KS:
            runs = []
            for seed in range(3):
                rng = np.random.default_rng(seed)
                learn = np.concatenate([rng.choice(np.flatnonzero(labels == d), k,
                                                   replace=False) for d in range(10)])
                read = np.setdiff1d(np.arange(len(labels)), learn)
                params, threshold = bench.adapt(images[learn], labels[learn], settings)
                runs.append({"base_read_right": bench.read_right(base_params, base_threshold,
                                                                 images[read], labels[read]),
                             "adapted_read_right": bench.read_right(params, threshold,
                                                                    images[read], labels[read]),
                             **bench.side_effects(params, threshold)})
            out["group"][name][f"k{k}"] = _mean(runs)
    return out


def _mean(records: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in records])) for key in records[0]} \
        if records else {}


def timing(model_name: str, settings: AdaptSettings, bench: Bench) -> dict:
    """Wall time of `digitnet adapt` on 100 pictures (median of 3), and of one correction
    on the page (10 examples so far, replay prepared)."""
    writer, _, _ = bench.writers[0]
    pictures, labels = writer_digits(writer, 10, np.random.default_rng(11))
    runs, cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
            (Path(tmp) / "mine" / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture).save(Path(tmp) / "mine" / str(label) / f"{i}.png")
        for _ in range(3):
            start, used = time.perf_counter(), _child_cpu()
            subprocess.run([sys.executable, "-m", "digitnet", "adapt", model_name,
                            str(Path(tmp) / "mine"), "--out", str(Path(tmp) / "out.npz")],
                           check=True, capture_output=True)
            runs.append(time.perf_counter() - start)
            cpu.append(_child_cpu() - used)
    from digitnet.adapt import adapt_model

    images = np.stack([preprocess(p) for p in pictures[::10]])
    replay = bench.replay(settings)
    page = []
    with threadpool_limits(1, user_api="blas"):  # as `digitnet serve` runs
        for _ in range(5):
            start = time.perf_counter()
            adapt_model(bench.model, images, labels[::10], settings, replay=replay)
            page.append(time.perf_counter() - start)
    page = float(np.median(page))
    return {"digitnet_adapt_100_pictures_seconds": float(np.median(runs)),
            "digitnet_adapt_runs_seconds": runs,
            # CPU time (user + system) of each run: what a busy machine cannot inflate
            "digitnet_adapt_cpu_seconds": cpu,
            "page_correction_seconds": page,
            "load_average_1min": os.getloadavg()[0]}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="builtin")
    parser.add_argument("--writers", type=int, default=30, help="development writers")
    parser.add_argument("--compare", action="store_true", help="every method and variant")
    parser.add_argument("--no-timing", action="store_true", help="skip the timing runs")
    args = parser.parse_args()
    bench = Bench(args.model, args.writers)
    settings = AdaptSettings()
    report: dict = {"model": args.model, "settings": dataclasses.asdict(settings),
                    "writers": args.writers,
                    "base": bench.side_effects(bench.model.params,
                                               bench.model.reject_threshold)
                    if bench.replay(settings) else {}}
    variants = VARIANTS if args.compare else {"output (chosen)": {}}
    report["methods"] = {}
    for name, changes in variants.items():
        start = time.perf_counter()
        report["methods"][name] = run(bench, dataclasses.replace(settings, **changes))
        report["methods"][name]["seconds"] = time.perf_counter() - start
        print(f"{name}: done in {report['methods'][name]['seconds']:.0f}s", file=sys.stderr)
    if not args.no_timing:
        report["timing"] = timing(args.model, settings, bench)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
