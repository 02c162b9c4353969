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
def fast_classifier(mnist):
    """A Classifier trained once per session on real MNIST (fast preset, 2 epochs)."""
    from digitnet import Classifier

    return Classifier(epochs=2).fit(
        mnist.x_train, mnist.y_train, test=(mnist.x_test, mnist.y_test),
        metadata={"data_source": mnist.source, "data_sha256": mnist.sha256})


@pytest.fixture(scope="session")
def trained_model(fast_classifier):
    """The session's real model (about 98% accurate), as a Model."""
    return fast_classifier.model_


@pytest.fixture(scope="session")
def model_file(trained_model, tmp_path_factory):
    """trained_model saved as a model file."""
    path = tmp_path_factory.mktemp("model") / "model.npz"
    trained_model.save(path)
    return path
