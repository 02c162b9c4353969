"""Can one hidden layer do what the CNN does? A 784-H-10 network taught by the CNN.

    python benchmarks/distill_reference.py CNN.pt [--epochs 30] [--hidden 2048] [--seed 0]
                                           [--threads 1] [--out MODEL.npz]

`cnn_reference.py` shows a small CNN trained on the `robust` preset's data declining far
more non-digits than the bundled one-hidden-layer networks at the same false-rejection
rate. This asks whether the gap is what one hidden layer can represent, or what it can
learn from labels: a network of digitnet's own shape (784-H-10, ReLU, biases, dropout 0.2
on the hidden layer) is trained to give the CNN's probabilities on every training image
("knowledge distillation": Hinton, Vinyals & Dean, 2015; Ba & Caruana, 2014, trained
shallow networks to mimic deep ones and found them better than when trained on labels).

    data       as cnn_reference.py: the robust preset's training digits and generated
               non-digits, a fresh distortion of every image each epoch (the preset's own
               augmentation and inputs)
    target     the CNN's class probabilities for that distorted image (for a non-digit,
               mostly near uniform), not the label
    training   PyTorch here for speed (this is a reference, not how digitnet trains); Adam,
               batch 128, learning rate 1e-3 falling by cosine to 0; cross-entropy to the
               teacher's probabilities

Prints one JSON object with the student's, the teacher's and the builtin's development
figures (`model_dev.figures`, each thresholded at 0.5% of MNIST val). `--out` saves the
student as a digitnet model file (float32, reject threshold and test accuracy measured by
`train.measure`), so `robustness.py` and every digitnet command can read it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnn_reference import IMAGE, fit, make_cnn, probabilities_of, training_data
from model_dev import dev_sets, figures

from digitnet import load_mnist, load_model
from digitnet.config import PRESETS
from digitnet.model import Model
from digitnet.train import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("teacher", metavar="CNN.pt",
                        help="weights saved by cnn_reference.py --save")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", metavar="MODEL.npz", help="save the student as a model file")
    args = parser.parse_args()
    import torch

    nn = torch.nn
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    teacher = make_cnn(torch)
    teacher.load_state_dict(torch.load(args.teacher))
    teacher.eval()
    config = dataclasses.replace(PRESETS["robust"], hidden=args.hidden)
    student = nn.Sequential(nn.Linear(784, args.hidden), nn.ReLU(), nn.Dropout(0.2),
                            nn.Linear(args.hidden, 10))
    images, labels = training_data(config)
    teach = probabilities_of(torch, teacher, config, IMAGE)

    def teacher_loss(x, _):
        with torch.no_grad():
            target = torch.cat([torch.softmax(teacher(x[k:k + 1024].reshape(-1, *IMAGE)), dim=1)
                                for k in range(0, len(x), 1024)])
        return lambda log_p, rows: -(target[rows] * log_p).sum(dim=1).mean()

    start = time.perf_counter()
    history = fit(torch, student, images, labels, config, np.random.default_rng([args.seed, 8]),
                  args.epochs, (784,), teacher_loss)
    params = {"W1": student[0].weight.detach().numpy().T.copy(),
              "b1": student[0].bias.detach().numpy().copy(),
              "W2": student[3].weight.detach().numpy().T.copy(),
              "b2": student[3].bias.detach().numpy().copy()}
    mnist = load_mnist()
    model = Model(params, config, {**measure(params, config, mnist), "history": history,
                                   "train_seconds": time.perf_counter() - start,
                                   "data_source": mnist.source, "data_sha256": mnist.sha256,
                                   "distilled_from": Path(args.teacher).name})
    if args.out:
        model.save(args.out)

    sets = dev_sets()
    builtin = load_model("builtin")
    report = {
        "epochs": args.epochs, "hidden": args.hidden, "seed": args.seed,
        "train_seconds": time.perf_counter() - start, "history": history,
        "student_mnist_test_accuracy": model.metadata["test_accuracy"],
        "student": figures(model.predict_proba, sets, model.reject_threshold),
        "teacher": figures(teach, sets),
        "builtin": figures(builtin.predict_proba, sets, builtin.reject_threshold),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
