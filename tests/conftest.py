"""Shared fixtures: the bundled MNIST loaded once per test session."""

import numpy as np
import pytest

from digitnet.data import load_mnist


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def trained_model(mnist):
    """A real model, trained once per session (fast preset, 2 epochs: about 97% accurate)."""
    from digitnet import Model, fit, preset

    config = preset("fast", epochs=2)
    result = fit(config, mnist.x_train, mnist.y_train, test=(mnist.x_test, mnist.y_test))
    return Model.from_training(result, config, mnist)


@pytest.fixture(scope="session")
def model_file(trained_model, tmp_path_factory):
    """trained_model saved as a model file."""
    path = tmp_path_factory.mktemp("model") / "model.npz"
    trained_model.save(path)
    return path
