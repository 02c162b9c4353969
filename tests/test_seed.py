"""The seed preset's fast trainer against a literal transcription of the blog post."""

import numpy as np
import pytest

from digitnet import network, preset, seed, train


def literal_post_epoch(w01, w12, images, labels, alpha=0.00001):
    """The post's `NeuralNet.train` inner loop, transcribed line for line (one epoch)."""
    for j in range(len(images)):
        layer_0 = images[j].reshape(1, 28 * 28)
        layer_1 = np.dot(layer_0, w01)
        layer_1 = (layer_1 > 0) * layer_1
        layer_2 = np.dot(layer_1, w12)
        goal = np.zeros(10)
        goal[labels[j]] = 1
        layer_2_delta = layer_2 - goal
        layer_1_delta = layer_2_delta.dot(w12.T) * (layer_1 > 0)
        w12 = w12 - (alpha * layer_1.T.dot(layer_2_delta))
        w01 = w01 - (alpha * layer_0.T.dot(layer_1_delta))
    return w01, w12


@pytest.mark.parametrize("block", [1, 7, 64])
def test_seed_epoch_matches_the_posts_literal_code(mnist, block):
    n = 300
    images, labels = mnist.x_train[:n], mnist.y_train[:n]
    params = network.init_params(np.random.RandomState(1), 1000, init="uniform", biases=False,
                                 dtype=np.float64)
    w01, w12 = literal_post_epoch(params["W1"].copy(), params["W2"].copy(), images, labels)
    seed.sgd_epoch(params, images.reshape(n, 784).astype(np.float64), labels, 1e-5, block=block)
    assert np.abs(params["W1"] - w01).max() < 1e-9
    assert np.abs(params["W2"] - w12).max() < 1e-9
    # the weights did move: the comparison is not between two untouched copies
    assert np.abs(w01 - network.init_params(np.random.RandomState(1), 1000, init="uniform",
                                            biases=False, dtype=np.float64)["W1"]).max() > 1e-6


def test_seed_epoch_is_the_reference_step_one_sample_at_a_time(mnist):
    """The seed trainer's loss is the mean squared error before each update, and its
    weights are those of `train.reference_step` run on one sample at a time."""
    n = 50
    x = mnist.x_train[:n].reshape(n, 784).astype(np.float64)
    y = mnist.y_train[:n]
    params = network.init_params(np.random.RandomState(1), 1000, init="uniform", biases=False,
                                 dtype=np.float64)
    # per-sample SGD as the plain training step does it, one sample per step
    state = train.new_state(preset("seed"))
    np.testing.assert_array_equal(state.params["W1"], params["W1"])  # the same start
    expected = sum(train.reference_step(state, x[j : j + 1], y[j : j + 1], preset("seed"), 1e-5)
                   for j in range(n))
    got = seed.sgd_epoch(params, x, y, 1e-5, block=16)
    assert got == pytest.approx(expected / n, rel=1e-10)
    for name in params:
        np.testing.assert_allclose(params[name], state.params[name], rtol=0, atol=1e-12)


def test_seed_trainer_refuses_biases():
    params = network.init_params(np.random.default_rng(0), 10, dtype=np.float64)
    with pytest.raises(ValueError, match="no biases"):
        seed.sgd_epoch(params, np.zeros((2, 784)), np.zeros(2, int), 1e-5)
