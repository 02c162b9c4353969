"""The bundled model file: it loads, and it is what its metadata says it is."""

from importlib import resources

import numpy as np
import pytest

from digitnet.config import PRESETS
from digitnet.data import BUNDLED_SHA256
from digitnet.model import load_model

BUILTIN = resources.files("digitnet") / "_builtin" / "builtin.npz"


@pytest.fixture(scope="module")
def builtin():
    with resources.as_file(BUILTIN) as path:
        return load_model(path)


def test_builtin_is_the_robust_preset_trained_on_bundled_mnist(builtin):
    meta = builtin.metadata
    assert builtin.config == PRESETS["robust"]  # made by `digitnet train --preset robust`
    assert meta["data_sha256"] == BUNDLED_SHA256
    assert 0 < meta["reject_threshold"] < 1
    assert builtin.params["W1"].dtype == np.float32


def test_builtin_reaches_its_recorded_test_accuracy(builtin, mnist):
    accuracy = float(np.mean(builtin.predict(mnist.x_test) == mnist.y_test))
    # (training measured it with the pixels in another order: float sums may differ)
    assert accuracy == pytest.approx(builtin.metadata["test_accuracy"], abs=2e-4)
    assert accuracy >= 0.99


def test_builtin_declines_few_test_digits(builtin, mnist):
    scores = builtin.predict_proba(mnist.x_test).max(axis=1)
    assert np.mean(scores < builtin.metadata["reject_threshold"]) <= 0.01
