"""Prediction speed: batch throughput, single-image latency, and the CLI's cold start.

    PYTHONPATH=src python benchmarks/predict_speed.py [--model model.npz] [--runs 7]

Prints one JSON object. Without --model it first trains the default `fast` network
(784-1000-10, float32) for one epoch, a few seconds: speed depends on the architecture,
not on how long the network was trained.

    batch       Model.predict_proba on the 10,000 MNIST test images (uint8 in, the full
                path: conversion, scaling, forward, softmax); images/s of the median run
    latency     one image at a time, Model.predict_proba on a (28, 28) uint8 array;
                p50 and p99 over many calls. Also, for reference, preprocess + predict
                of a 280x280 picture (not part of the target)
    photo_1000  preprocess + predict of a 1000x1000 photo of a digit on paper (a shadow,
                uneven light, JPEG) with the bundled model: p50 and p99 (issue 33's target,
                a median of at most 20 ms on 2 cores)
    cold_start  wall time of a new process running `python -m digitnet predict MODEL
                one.png`, several runs after one warm-up run

Targets from issue 4: batch >= 50,000 images/s on 2 cores, p50 and p99 latency < 1 ms,
cold start < 1.5 s. The load average is reported too: on a shared machine other jobs
slow every number down, and OpenBLAS's worker threads, which spin while they wait, make
it worse (single-image p99 went from 0.1 ms to 8-16 ms at a load average of 5 on 2
cores). Compare with `OPENBLAS_NUM_THREADS=1 python benchmarks/predict_speed.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from digitnet import Model, fit, load_mnist, load_model, preprocess, preset  # noqa: E402

TARGETS = {"batch_images_per_s": 50_000, "latency_p99_ms": 1.0, "cold_start_s": 1.5,
           "photo_1000_p50_ms": 20.0}


def batch_throughput(model: Model, x: np.ndarray, runs: int) -> dict:
    model.predict_proba(x)  # warm-up: first-touch of buffers, BLAS threads started
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_proba(x)
        seconds.append(time.perf_counter() - start)
    return {"images": len(x), "runs": runs,
            "median_s": statistics.median(seconds), "best_s": min(seconds),
            "images_per_s": len(x) / statistics.median(seconds),
            "best_images_per_s": len(x) / min(seconds)}


def single_latency(model: Model, x: np.ndarray, calls: int) -> dict:
    for image in x[:50]:
        model.predict_proba(image)
    times = np.empty(calls)
    for i in range(calls):
        image = x[i % len(x)]
        start = time.perf_counter_ns()
        model.predict_proba(image)
        times[i] = time.perf_counter_ns() - start
    ms = times / 1e6
    return {"calls": calls, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def preprocess_latency(model: Model, x: np.ndarray, calls: int) -> dict:
    from PIL import Image

    pictures = [Image.fromarray(255 - image).resize((280, 280)) for image in x[:calls]]
    times = np.empty(len(pictures))
    for i, picture in enumerate(pictures):
        start = time.perf_counter_ns()
        model.predict_proba(preprocess(picture))
        times[i] = time.perf_counter_ns() - start
    ms = times / 1e6
    return {"picture": "280x280 L", "calls": len(pictures),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def photo_latency(x: np.ndarray, calls: int) -> dict:
    """preprocess + predict of a 1000x1000 photo of a digit on paper (shadow, uneven light,
    JPEG; benchmarks/people_sets.py) with the bundled model, one BLAS thread."""
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import people_sets

    builtin = load_model("builtin")
    rng = np.random.default_rng(0)
    photos = [people_sets.photo(people_sets.centre_line(image), rng, (1000, 1000)).convert("RGB")
              for image in x[:calls]]
    times = np.empty(len(photos))
    with threadpool_limits(limits=1, user_api="blas"):
        builtin.predict_proba(preprocess(photos[0]))  # warm-up
        for i, picture in enumerate(photos):
            start = time.perf_counter_ns()
            builtin.predict_proba(preprocess(picture))
            times[i] = time.perf_counter_ns() - start
    ms = times / 1e6
    return {"picture": "1000x1000 RGB photo", "model": "builtin", "calls": len(photos),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def cold_start(model_path: Path, image_path: Path, runs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", "digitnet", "predict", str(model_path), str(image_path)]
    seconds = []
    for run in range(runs + 1):
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"digitnet predict failed: {result.stderr.strip()}")
        if run:  # run 0 warms the OS file cache
            seconds.append(elapsed)
    return {"command": "python -m digitnet predict MODEL one.png", "runs": runs,
            "median_s": statistics.median(seconds), "min_s": min(seconds),
            "max_s": max(seconds), "all_s": [round(s, 4) for s in seconds],
            "output": result.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", type=Path, default=None,
                        help="model file to time (default: train the fast preset for 1 epoch)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of the batch and CLI")
    parser.add_argument("--calls", type=int, default=2000, help="single-image calls timed")
    args = parser.parse_args()

    data = load_mnist()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            config = preset("fast", epochs=1)
            result = fit(config, data.x_train, data.y_train, test=(data.x_test, data.y_test))
            model = Model.from_training(result, config, data)
            model_path = Path(tmp) / "model.npz"
            model.save(model_path)
        else:
            model_path = args.model
            model = load_model(model_path)
        from PIL import Image

        image_path = Path(tmp) / "seven.png"
        Image.fromarray(255 - data.x_test[0]).resize((280, 280)).save(image_path)

        report = {
            "model": f"784-{model.hidden}-10 {model.params['W1'].dtype}",
            "test_accuracy": float((model.predict(data.x_test) == data.y_test).mean()),
            "batch": batch_throughput(model, data.x_test, args.runs),
            "latency": single_latency(model, data.x_test, args.calls),
            "latency_with_preprocess": preprocess_latency(model, data.x_test, 300),
            "photo_1000": photo_latency(data.x_test, 50),
            "cold_start": cold_start(model_path, image_path, args.runs),
        }
    report["targets"] = TARGETS
    report["meets_targets"] = {
        "batch": report["batch"]["images_per_s"] >= TARGETS["batch_images_per_s"],
        "latency": report["latency"]["p99_ms"] < TARGETS["latency_p99_ms"],
        "cold_start": report["cold_start"]["median_s"] < TARGETS["cold_start_s"],
        "photo_1000": report["photo_1000"]["p50_ms"] <= TARGETS["photo_1000_p50_ms"],
    }
    report["machine"] = {"cpus": os.cpu_count(),
                         "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                         "load_average_before": load_before,
                         "load_average_after": os.getloadavg(), "numpy": np.__version__,
                         "python": sys.version.split()[0]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
