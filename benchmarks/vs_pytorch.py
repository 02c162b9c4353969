"""Benchmark: digitnet vs PyTorch (and scikit-learn) training the same network on the CPU.

All three train 784-H-10 ReLU with softmax cross-entropy on the full 60,000 MNIST
training images scaled to [0, 1], batch size B, SGD with Nesterov momentum 0.9, a
constant learning rate and E epochs. PyTorch starts from digitnet's initial weights and
visits the batches in digitnet's order. One run of this script measures all of them,
alternating PyTorch and digitnet over several rounds, each in a fresh subprocess (two
threading runtimes in one process slow each other down), so the ratio is fair on a noisy
machine. PyTorch and NumPy's BLAS get the same number of threads.

Prints JSON: seconds per epoch (median) for each, the ratio digitnet / PyTorch, test
accuracies, and GEMM efficiency: the epoch's nominal dense FLOPs
    n * (4 * 784 * H + 6 * H * 10)   (forward and weight gradients; no input gradient)
divided by the epoch time, against a plain float32 np.matmul measured in the same run.
digitnet skips the all-zero pixel columns of each batch, so it can exceed what the dense
FLOP count suggests; the report says so rather than hiding it.

    pip install torch==2.13.0 scikit-learn   (benchmark-only dependencies)
    python benchmarks/vs_pytorch.py [--epochs 3] [--hidden 1000] [--batch-size 128]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from digitnet import load_mnist, preset, train


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """float32 GFLOP/s of a plain square np.matmul, the machine's dense-GEMM reference."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def bench_config(args):
    return preset("fast", hidden=args.hidden, batch_size=args.batch_size, epochs=args.epochs,
                  optimizer="nesterov", momentum=0.9, lr=args.lr, schedule="constant",
                  label_smoothing=0.0, val_split=0, seed=0, threads=args.threads)


def run_digitnet(data, args) -> dict:
    config = bench_config(args)
    result = train.fit(config, data.x_train, data.y_train, test=(data.x_test, data.y_test))
    seconds = [r["seconds"] for r in result.history]
    return {"epoch_seconds": seconds, "test_accuracy": result.test_accuracy}


def run_pytorch(data, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    x = torch.from_numpy(data.x_train.reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(data.y_train.astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.ReLU(),
                                torch.nn.Linear(args.hidden, 10))
    # Start from digitnet's initial weights and visit the batches in digitnet's order, so
    # both libraries follow the same trajectory up to rounding.
    state = train.new_state(bench_config(args))
    with torch.no_grad():
        for layer, w, b in ((model[0], "W1", "b1"), (model[2], "W2", "b2")):
            layer.weight.copy_(torch.from_numpy(state.params[w].T.copy()))
            layer.bias.copy_(torch.from_numpy(state.params[b]))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.from_numpy(state.rng.permutation(len(x)))
        for i in range(0, len(x), args.batch_size):
            idx = order[i : i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        xt = torch.from_numpy(data.x_test.reshape(-1, 784).astype(np.float32) / 255)
        accuracy = (model(xt).argmax(1).numpy() == data.y_test).mean()
    return {"epoch_seconds": seconds, "test_accuracy": float(accuracy),
            "version": torch.__version__}


def run_sklearn(data, args) -> dict:
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(args.hidden,), solver="sgd", momentum=0.9,
                        nesterovs_momentum=True, learning_rate_init=args.lr, alpha=0.0,
                        batch_size=args.batch_size, max_iter=args.sklearn_epochs, shuffle=True,
                        random_state=0, tol=0.0, n_iter_no_change=10**6)
    x = data.x_train.reshape(-1, 784).astype(np.float32) / 255
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, data.y_train)
    total = time.perf_counter() - start
    accuracy = clf.score(data.x_test.reshape(-1, 784).astype(np.float32) / 255, data.y_test)
    return {"epoch_seconds": [total / args.sklearn_epochs] * args.sklearn_epochs,
            "epochs": args.sklearn_epochs, "test_accuracy": float(accuracy),
            "version": sklearn.__version__}


RUNNERS = {"pytorch": run_pytorch, "digitnet": run_digitnet, "sklearn": run_sklearn}


def run_child(name: str, args) -> dict:
    """Run one library's training in a fresh Python process; returns its JSON result."""
    command = [sys.executable, __file__, "--only", name, "--epochs", str(args.epochs),
               "--hidden", str(args.hidden), "--batch-size", str(args.batch_size),
               "--lr", str(args.lr), "--threads", str(args.threads),
               "--sklearn-epochs", str(args.sklearn_epochs)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--sklearn-epochs", type=int, default=1,
                        help="epochs for scikit-learn (slow); 0 skips it")
    parser.add_argument("--rounds", type=int, default=4,
                        help="times each library is run, alternating; epoch times are pooled")
    parser.add_argument("--only", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:  # a child process: one library, result as JSON on stdout
        print(json.dumps(RUNNERS[args.only](load_mnist(), args)))
        return
    n = 60000
    flops = n * (4 * 784 * args.hidden + 6 * args.hidden * 10)

    peak = matmul_gflops()
    results: dict[str, dict] = {}
    rounds: dict[str, list[list[float]]] = {}  # per library, each round's epoch times
    names = ["pytorch", "digitnet"] + (["sklearn"] if args.sklearn_epochs else [])
    for round_ in range(args.rounds):
        for name in names:
            if name == "sklearn" and round_:
                continue  # slow, and only for reference: one run
            r = run_child(name, args)
            pooled = results.setdefault(name, {**r, "epoch_seconds": []})
            pooled["epoch_seconds"] += r["epoch_seconds"]
            rounds.setdefault(name, []).append(r["epoch_seconds"])
    peak = max(peak, matmul_gflops())  # measured before and after, keep the better

    report = {"benchmark": "vs_pytorch", "hidden": args.hidden, "batch_size": args.batch_size,
              "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads,
              "train_images": n,
              "epoch_gflop_dense": round(flops / 1e9, 1),
              "matmul_gflops": round(peak, 1)}
    for name, r in results.items():
        median = statistics.median(r["epoch_seconds"])
        report[name] = {**{k: v for k, v in r.items() if k != "epoch_seconds"},
                        "epoch_seconds": [round(s, 3) for s in r["epoch_seconds"]],
                        "seconds_per_epoch": round(median, 3),
                        "gflops": round(flops / median / 1e9, 1),
                        "fraction_of_matmul": round(flops / median / 1e9 / peak, 3)}
    # Noise on a shared machine only ever adds time, so the fastest epoch of each library
    # is the fairest single figure; the median ratio and each round's ratio are shown too.
    best = {name: min(results[name]["epoch_seconds"]) for name in ("digitnet", "pytorch")}
    report["ratio_digitnet_over_pytorch"] = round(best["digitnet"] / best["pytorch"], 3)
    report["ratio_of_medians"] = round(
        report["digitnet"]["seconds_per_epoch"] / report["pytorch"]["seconds_per_epoch"], 3)
    report["ratio_per_round"] = [
        round(statistics.median(d) / statistics.median(t), 3)
        for d, t in zip(rounds["digitnet"], rounds["pytorch"], strict=True)]
    for name in ("digitnet", "pytorch"):
        report[name]["fastest_epoch_seconds"] = round(best[name], 3)
    report["accuracy_gap_pp"] = round(
        100 * abs(report["digitnet"]["test_accuracy"] - report["pytorch"]["test_accuracy"]), 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
