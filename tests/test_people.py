"""The bundled model on pictures made the way people make them (issue 33), from MNIST
*test* digits, as benchmarks/people.py reports them but fewer: every pen from hairline
to marker, phone screenshots, photos with a shadow, and non-digits drawn with any pen.
A declined or refused picture counts as wrong. The floors sit below what the model
reached on these very pictures by about two standard errors, so that they catch a real
loss rather than noise; the full figures, on more pictures, are in docs/builtin.md."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import people
import people_sets

from digitnet import load_model

PER_KIND = 60


@pytest.fixture(scope="module")
def builtin():
    return load_model("builtin")


@pytest.fixture(scope="module")
def digit_sets():
    rng = np.random.default_rng(33)
    x, y = people_sets.mnist_digits("report")
    pick = rng.choice(len(x), 7 * PER_KIND, replace=False)
    segments = [people_sets.centre_line(x[i]) for i in pick]
    labels = y[pick]
    sets, k = {}, 0
    for band in people_sets.PEN_BANDS:
        sets[band] = ([people_sets.pen_picture(s, rng, band) for s in segments[k:k + PER_KIND]],
                      labels[k:k + PER_KIND])
        k += PER_KIND
    sets["screenshot"] = ([people_sets.screenshot(s, rng) for s in segments[k:k + PER_KIND]],
                          labels[k:k + PER_KIND])
    k += PER_KIND
    sets["photo"] = ([people_sets.photo(s, rng) for s in segments[k:k + PER_KIND]],
                     labels[k:k + PER_KIND])
    return sets


def read_right(model, pictures, labels):
    answer, _ = people.classify(model, *people.prepared(pictures))
    return float(np.mean(answer == labels))


# measured on these pictures: 0.983 1.0 1.0 0.967 0.95, 0.95, 0.917
FLOORS = {"hairline": 0.93, "thin": 0.93, "medium": 0.95, "thick": 0.92, "marker": 0.90,
          "screenshot": 0.90, "photo": 0.85}


@pytest.mark.parametrize("kind", list(FLOORS))
def test_peoples_digits_read_right(builtin, digit_sets, kind):
    pictures, labels = digit_sets[kind]
    assert read_right(builtin, pictures, labels) >= FLOORS[kind]


def test_every_pen_together(builtin, digit_sets):
    rights = [read_right(builtin, *digit_sets[band]) for band in people_sets.PEN_BANDS]
    assert np.mean(rights) >= 0.95  # measured 0.977


def test_non_digits_drawn_with_any_pen_are_declined(builtin):
    sets = people.nondigit_pictures("report", 40, np.random.default_rng(34))
    declined = {kind: float(np.mean(people.classify(builtin, *people.prepared(p))[0] == -1))
                for kind, p in sets.items()}
    # measured: letters 0.975, scribbles 0.85, shapes 0.75
    assert declined["letters"] >= 0.9, declined
    assert np.mean(list(declined.values())) >= 0.78, declined
