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
