"""--threshold and --no-reject on the command line, and Model.with_threshold in Python:
when a picture is "not a digit" (and a reading not a number), for one run."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_cli import run

from digitnet import load_model


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    seven = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(seven).line([(50, 40), (150, 40), (80, 170)], fill=0, width=14)
    seven.save(folder / "seven.png")
    scribble = Image.new("L", (200, 200), 255)
    rng = np.random.default_rng(3)
    points = [tuple(p) for p in rng.uniform(30, 170, (40, 2))]
    ImageDraw.Draw(scribble).line(points, fill=0, width=3)
    scribble.save(folder / "scribble.png")
    return folder


def test_with_threshold_changes_only_the_threshold(pictures):
    model = load_model("builtin")
    never, always = model.with_threshold(0.0), model.with_threshold(1.0)
    assert never.params is model.params and model.reject_threshold > 0
    digits, scores = never.predict_images_digits([pictures / "seven.png",
                                                  pictures / "scribble.png"])
    assert digits[0] == 7 and digits[1] is not None
    assert always.predict_images_digits(pictures / "seven.png")[0] == [None]
    np.testing.assert_allclose(model.predict_images_digits(pictures / "seven.png")[1], scores[:1])
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            model.with_threshold(bad)


def test_predict_flags(pictures):
    base = json.loads(run("predict", str(pictures), "--json").stdout)
    assert {r["file"].rsplit("/", 1)[1]: r["digit"] for r in base} == {"scribble.png": None,
                                                                       "seven.png": 7}
    loose = json.loads(run("predict", str(pictures), "--json", "--no-reject").stdout)
    assert all(r["digit"] is not None for r in loose)
    strict = run("predict", str(pictures / "seven.png"), "--threshold", "1")
    assert strict.stdout.strip().endswith(")") and "not a digit" in strict.stdout


@pytest.mark.parametrize("args", [["--threshold", "1.5"], ["--threshold", "nan"],
                                  ["--threshold", "x"], ["--threshold", "0.5", "--no-reject"]])
def test_bad_threshold_flags_are_one_usage_line(pictures, args):
    result = run("predict", str(pictures / "seven.png"), *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("digitnet predict: error:")


def test_read_threshold(pictures):
    (record,) = json.loads(run("read", str(pictures / "seven.png"), "--json",
                               "--threshold", "1").stdout)
    assert record["number"] is None and record["reason"] == "not a number"
    (record,) = json.loads(run("read", str(pictures / "seven.png"), "--json").stdout)
    assert record["number"] == "7"
