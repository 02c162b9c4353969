"""Declining pictures that are not digits: the digit score and reject threshold of a Model,
the Python API, `digitnet predict` (text and --json), POST /api/predict and the page.

A model declines a picture when its digit score (the largest softmax probability) is
below its reject threshold (metadata "reject_threshold"; 0, never declining, when absent).
The session's 2-epoch model is given a threshold between the scores of a scribble and of
a clear digit, so each test knows which way each picture must go."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

import digitnet
from digitnet import Model, preprocess
from digitnet.errors import ModelFileError

PAD = 280  # the web page's pad, in drawing units
PEN = 22  # the page's default pen width


def scribble_points():
    """A 3:4 Lissajous scribble as fractions of the pad: no digit looks like it."""
    t = np.linspace(0, 2 * np.pi, 160)
    return list(zip(0.5 + 0.32 * np.sin(3 * t + 0.4), 0.5 + 0.32 * np.sin(4 * t), strict=True))


def one_points():
    """A "1": one stroke down the middle."""
    return [(0.5, 0.18 + 0.64 * i / 16) for i in range(17)]


def drawing(points, width=PEN):
    """Points (fractions of the pad) drawn as the page draws them: dark ink on white."""
    canvas = Image.new("L", (PAD, PAD), 255)
    xy = [(x * PAD, y * PAD) for x, y in points]
    ImageDraw.Draw(canvas).line(xy, fill=0, width=width, joint="curve")
    return canvas


def with_threshold(model, threshold):
    return Model(model.params, model.config, {**model.metadata, "reject_threshold": threshold})


@pytest.fixture(scope="module")
def scores(trained_model):
    """(scribble's digit score, the drawn 1's digit score) under the session's model."""
    scribble, one = preprocess(drawing(scribble_points())), preprocess(drawing(one_points()))
    found = trained_model.digit_score(np.stack([scribble, one]))
    assert found[0] < found[1] - 0.05  # the scribble looks much less like a digit than a 1
    return float(found[0]), float(found[1])


@pytest.fixture(scope="module")
def strict_model(trained_model, scores):
    """The session's model with a threshold halfway between the scribble's and the 1's."""
    return with_threshold(trained_model, round(sum(scores) / 2, 4))


@pytest.fixture(scope="module")
def strict_file(strict_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("strict") / "strict.npz"
    strict_model.save(path)
    return path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    drawing(one_points()).save(folder / "one.png")
    drawing(scribble_points()).save(folder / "scribble.png")
    return folder


# ---- the model ---------------------------------------------------------------------------


def test_digit_score_is_the_largest_probability(trained_model, mnist):
    x = mnist.x_test[:50]
    score = trained_model.digit_score(x)
    assert score.shape == (50,)
    np.testing.assert_allclose(score, trained_model.predict_proba(x).max(axis=1))
    assert trained_model.digit_score(x[0]).shape == (1,)  # one image


def test_models_without_a_threshold_never_decline(trained_model, mnist):
    assert trained_model.reject_threshold == 0.0
    digits, score = trained_model.predict_digits(mnist.x_test[:20])
    assert digits == trained_model.predict(mnist.x_test[:20]).tolist()
    assert all(type(d) is int for d in digits)
    assert score.shape == (20,)


def test_predict_digits_gives_none_for_what_it_declines(strict_model, scores):
    scribble, one = preprocess(drawing(scribble_points())), preprocess(drawing(one_points()))
    digits, score = strict_model.predict_digits(np.stack([scribble, one]))
    assert digits == [None, 1]
    np.testing.assert_allclose(score, scores, rtol=1e-6)
    assert strict_model.reject_threshold == round(sum(scores) / 2, 4)


def test_predict_images_digits_reads_files(strict_file, pictures):
    model = digitnet.load_model(strict_file)
    digits, score = model.predict_images_digits([pictures / "one.png", pictures / "scribble.png"])
    assert digits == [1, None]
    assert score[0] > model.reject_threshold > score[1]


def test_the_threshold_survives_save_and_load(strict_model, strict_file):
    assert digitnet.load_model(strict_file).reject_threshold == strict_model.reject_threshold


@pytest.mark.parametrize("bad", ["high", -0.1, 1.5, float("nan"), True, None, [0.5]])
def test_a_bad_threshold_in_the_file_is_refused(trained_model, tmp_path, bad):
    path = tmp_path / "bad.npz"
    if isinstance(bad, float) and bad != bad:  # NaN: not JSON, so it is never even written
        from digitnet.errors import OutputError

        with pytest.raises(OutputError, match="NaN or infinite"):
            with_threshold(trained_model, bad).save(path)
        return
    with_threshold(trained_model, bad).save(path)
    with pytest.raises(ModelFileError, match="reject_threshold"):
        digitnet.load_model(path)


def test_evaluate_reports_the_share_of_digits_declined(strict_model, mnist, trained_model):
    from digitnet.evaluation import evaluate_model, format_text

    x, y = mnist.x_test[:2000], mnist.y_test[:2000]
    evaluation = evaluate_model(strict_model, x, y, "MNIST")
    expected = float((strict_model.digit_score(x) < strict_model.reject_threshold).mean())
    assert 0 < evaluation.declined == pytest.approx(expected)
    assert evaluation.to_dict()["declined"] == evaluation.declined
    assert f"declined as not a digit: {100 * expected:.2f}%" in format_text(evaluation)
    plain = evaluate_model(trained_model, x, y, "MNIST")
    assert plain.declined == 0 and "declined" not in format_text(plain)


# ---- the command line --------------------------------------------------------------------


def run(*args):
    return subprocess.run([sys.executable, "-m", "digitnet", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_predict_text_says_not_a_digit(strict_file, pictures, scores):
    result = run("predict", strict_file, pictures)
    assert result.returncode == 0, result.stderr  # declining is an answer, not an error
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines[str(pictures / "one.png")].startswith("1 (")
    assert lines[str(pictures / "scribble.png")] == f"not a digit (score {scores[0]:.2f})"


def test_predict_json_gives_null_with_a_reason_and_every_score(strict_file, pictures, scores):
    result = run("predict", strict_file, pictures, "--json")
    assert result.returncode == 0, result.stderr
    one, scribble = json.loads(result.stdout)
    assert one["digit"] == 1 and one["reason"] is None
    assert one["digit_score"] == pytest.approx(scores[1], rel=1e-6)
    assert scribble["digit"] is None and scribble["reason"] == "not a digit"
    assert scribble["digit_score"] == pytest.approx(scores[0], rel=1e-6)
    assert len(scribble["probabilities"]) == 10


def test_predict_json_never_holds_nan(strict_file, pictures):
    result = run("predict", strict_file, pictures, "--json")
    json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))


# ---- the web API and page --------------------------------------------------------------


def test_api_declines_a_scribble(strict_model, scores):
    pytest.importorskip("fastapi", reason="the web extra is not installed")
    from fastapi.testclient import TestClient

    from digitnet.server import create_app

    with TestClient(create_app(strict_model, "strict.npz")) as client:
        scribble = preprocess(drawing(scribble_points())).tolist()
        answer = client.post("/api/predict", json={"pixels": scribble}).json()
        assert answer["digit"] is None and answer["reason"] == "not a digit"
        assert answer["digit_score"] == pytest.approx(scores[0], rel=1e-6)
        one = preprocess(drawing(one_points())).tolist()
        answer = client.post("/api/predict", json={"pixels": one}).json()
        assert answer["digit"] == 1 and answer["reason"] is None
        assert math.isfinite(answer["digit_score"])
        info = client.get("/api/model").json()
        assert info["reject_threshold"] == strict_model.reject_threshold
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Prediction"]
        assert {"digit_score", "reason"} <= set(schema["properties"])
        kinds = [kind.get("type") for kind in schema["properties"]["digit"]["anyOf"]]
        assert sorted(kinds) == ["integer", "null"]  # the spec allows "digit": null


def test_the_page_says_not_a_digit_for_a_scribble(strict_file, browser):
    from test_serve_live import draw_with_mouse, open_page, start_server, stop_server

    proc, url = start_server(strict_file)
    try:
        page, errors = open_page(browser, url, viewport={"width": 1200, "height": 800})
        draw_with_mouse(page, scribble_points())
        page.wait_for_selector('#result[data-status="done"]', timeout=20_000)
        assert page.text_content("#guess") == "not a digit"
        assert page.get_attribute("#result", "data-verdict") == "not-a-digit"
        assert page.locator(".bar.top").count() == 0  # no digit is highlighted
        page.click("#clear")
        draw_with_mouse(page, one_points())
        page.wait_for_selector('#result[data-status="done"]', timeout=20_000)
        assert page.text_content("#guess") == "1"
        assert page.get_attribute("#result", "data-verdict") == "digit"
        assert errors == []
        page.context.close()
    finally:
        stop_server(proc)


