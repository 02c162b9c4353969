"""Shared fixtures: the bundled MNIST loaded once per test session, the session's trained
model, and a headless Chromium for the browser tests."""

import os

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


CHROMIUM = "/usr/bin/chromium"  # Debian's package; scripts/test installs it
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`).

    Module scope, not session: Playwright's sync API runs an event loop while it is open,
    and tests elsewhere call asyncio.run."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        yield browser
        browser.close()
