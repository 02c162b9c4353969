"""Benchmark: epoch time of the default network on a quiet machine and with one core busy.

On a 2-core machine, OpenBLAS's second thread spins while it waits for a core that
another program holds, and an epoch took 3.5x its quiet time. digitnet now measures
before each epoch whether one thread or all cores run its products faster (threads.py).
This script measures, in one run, the epoch time of the default `fast` network
(784-1000-10, batch 128, Nesterov) with:

    digitnet      threads chosen by measurement (the default, `--threads 0`)
    digitnet_all  all cores, always (the old behaviour)
    pytorch       the same network and batches in PyTorch, with its default threads

each on a quiet machine and with one core kept busy by a spinning process, alternating
rounds, every run in a fresh process. Prints JSON: the median epoch seconds per case and
busy/quiet ratios (target for digitnet: at most 2.2). "Quiet" means nothing started by
this script; other programs on the machine still count, so note the load average.

    pip install torch==2.13.0       (PyTorch is a benchmark-only dependency)
    python benchmarks/busy_core.py [--epochs 2] [--rounds 2] [--no-pytorch]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from types import SimpleNamespace

from digitnet import load_mnist, preset, threads, train

CASES = {  # name -> (library, digitnet's threads setting)
    "digitnet": ("digitnet", 0),
    "digitnet_all": ("digitnet", threads.available_cores()),
    "pytorch": ("pytorch", threads.available_cores()),
}


def run_digitnet(epochs: int, n_threads: int) -> dict:
    config = preset("fast", epochs=epochs, val_split=0, threads=n_threads, seed=0)
    data = load_mnist()
    result = train.fit(config, data.x_train[:55000], data.y_train[:55000])
    return {"epoch_seconds": [r["seconds"] for r in result.history],
            "threads": [r["threads"] for r in result.history]}


def run_pytorch(epochs: int, n_threads: int) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from vs_pytorch import run_pytorch as train_pytorch

    args = SimpleNamespace(hidden=1000, batch_size=128, epochs=epochs, lr=0.05,
                           threads=n_threads)
    return train_pytorch(load_mnist(), args)


def run_child(case: str, epochs: int) -> dict:
    """One case's training in a fresh Python process; returns its JSON result."""
    command = [sys.executable, __file__, "--only", case, "--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def spin() -> subprocess.Popen:
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times each case runs in each condition, alternating")
    parser.add_argument("--no-pytorch", action="store_true", help="skip PyTorch")
    parser.add_argument("--only", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:  # a child process
        library, n_threads = CASES[args.only]
        runner = run_digitnet if library == "digitnet" else run_pytorch
        print(json.dumps(runner(args.epochs, n_threads)))
        return

    cases = [c for c in CASES if not (args.no_pytorch and c == "pytorch")]
    seconds = {(c, cond): [] for c in cases for cond in ("quiet", "busy")}
    chosen: dict[str, list[int]] = {"quiet": [], "busy": []}
    load = {"quiet": [], "busy": []}
    for _ in range(args.rounds):
        for condition in ("quiet", "busy"):
            spinner = spin() if condition == "busy" else None
            try:
                for case in cases:
                    load[condition].append(os.getloadavg()[0])
                    result = run_child(case, args.epochs)
                    seconds[case, condition] += result["epoch_seconds"]
                    if case == "digitnet":
                        chosen[condition] += result["threads"]
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()

    report = {"benchmark": "busy_core", "cores": threads.available_cores(),
              "epochs_per_run": args.epochs, "rounds": args.rounds,
              "load_average_1min": {k: [round(v, 2) for v in vs] for k, vs in load.items()},
              "digitnet_threads_chosen": chosen}
    for case in cases:
        quiet = statistics.median(seconds[case, "quiet"])
        busy = statistics.median(seconds[case, "busy"])
        report[case] = {"quiet_epoch_seconds": round(quiet, 3),
                        "busy_epoch_seconds": round(busy, 3),
                        "busy_over_quiet": round(busy / quiet, 2),
                        "epoch_seconds": {cond: [round(s, 3) for s in seconds[case, cond]]
                                          for cond in ("quiet", "busy")}}
    report["target_busy_over_quiet"] = 2.2
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
