"""Adapting a model to one writer (adapt.py, `digitnet adapt`, Model.adapt) and
Classifier.partial_fit."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet import Classifier, load_model, network, preprocess
from digitnet.adapt import (
    METHODS,
    AdaptSettings,
    adapt_model,
    adapt_params,
    prepare_replay,
    weights_sha256,
)
from digitnet.cli import main
from digitnet.config import preset
from digitnet.errors import ConfigError
from digitnet.inputs import network_inputs
from digitnet.model import Model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from writers import Writer, writer_digits

# A writer `builtin` reads worst of forty random ones (90% of their digits): a strong
# slant, open 0s and 4s, 1s with a flag, looped 2s, 7s with a hooked top.
HARD_WRITER = Writer(slant=0.35, pen=0.05, aspect=0.83, one="flag", two="loop",
                     three="round", four="open", seven="hook", nine="straight", zero="open",
                     wobble=0.021)
QUICK = AdaptSettings(replay_digits=600, replay_nondigits=150)  # a smaller replay: faster tests


@pytest.fixture(scope="module")
def builtin():
    return load_model("builtin")


@pytest.fixture(scope="module")
def writing():
    """HARD_WRITER's digits, preprocessed: 3 of each to learn from, 8 more to test on."""
    pictures, labels = writer_digits(HARD_WRITER, 11, np.random.default_rng(0))
    images = np.stack([preprocess(p) for p in pictures])
    learn = np.arange(len(labels)) % 11 < 3
    return images[learn], labels[learn], images[~learn], labels[~learn]


@pytest.fixture(scope="module")
def replay(builtin, mnist):
    return prepare_replay(builtin, mnist, QUICK)


@pytest.fixture(scope="module")
def adapted(builtin, writing, replay):
    x, y, _, _ = writing
    return adapt_model(builtin, x, y, QUICK, replay=replay, base_name="builtin")


def read_right(model, x, y):
    """Share read right, a declined picture counted wrong."""
    digits, _ = model.predict_digits(x)
    return float(np.mean([d == t for d, t in zip(digits, y, strict=True)]))


def test_adapted_model_reads_its_examples_and_the_writers_other_digits(builtin, adapted,
                                                                       writing):
    x, y, x_rest, y_rest = writing
    assert read_right(builtin, x_rest, y_rest) < 0.95  # the writer is hard for the base
    assert read_right(adapted, x, y) == 1.0
    before, after = 1 - read_right(builtin, x_rest, y_rest), 1 - read_right(adapted, x_rest,
                                                                          y_rest)
    assert after <= before / 2  # errors at least halved on digits it never saw


def test_forgetting_stays_bounded(builtin, adapted, mnist):
    x, y = mnist.x_test[:3000], mnist.y_test[:3000]
    base = float(np.mean(builtin.predict(x) == y))
    assert float(np.mean(adapted.predict(x) == y)) >= base - 0.01  # 3 points without replay
    # and it declines MNIST's digits as rarely as the base: the threshold is measured again
    assert np.mean(adapted.declines(adapted.digit_score(x))) <= 0.015


def test_reject_threshold_is_measured_on_the_held_out_digits(builtin, adapted, replay):
    z = replay.h_val @ adapted.params["W2"] + adapted.params["b2"]
    scores = network.softmax(z).max(axis=1)
    assert adapted.reject_threshold == pytest.approx(
        np.quantile(scores, builtin.config.reject_rate))
    assert np.mean(scores < adapted.reject_threshold) == pytest.approx(
        builtin.config.reject_rate, abs=0.001)
    assert adapted.reject_threshold != builtin.reject_threshold


def test_saved_adapted_model_loads_and_records_its_base(builtin, adapted, writing, tmp_path):
    path = tmp_path / "mine.npz"
    adapted.save(path, stored_as="float16")
    loaded = load_model(path)
    record = loaded.metadata["adapted"]
    assert record["base"]["name"] == "builtin"
    assert record["base"]["weights_sha256"] == weights_sha256(builtin.params)
    assert record["base"]["test_accuracy"] == builtin.metadata["test_accuracy"]
    assert record["examples"] == 30
    assert record["examples_per_digit"] == {str(d): 3 for d in range(10)}
    assert record["settings"] == dataclasses.asdict(QUICK)
    assert "test_accuracy" not in loaded.metadata  # the base's figure is not this model's
    np.testing.assert_array_equal(loaded.params["W1"], builtin.params["W1"])
    x = writing[2]
    np.testing.assert_allclose(loaded.predict_proba(x), adapted.predict_proba(x), atol=1e-6)


def test_only_some_digits(builtin, writing, replay, mnist):
    """A user who fixes only their 7s: the 7s improve, the other digits stay."""
    x, y, x_rest, y_rest = writing
    sevens = y == 7
    fixed = builtin.adapt(x[sevens], y[sevens], replay=replay, **_fields(QUICK))
    assert fixed.metadata["adapted"]["examples_per_digit"]["7"] == 3
    assert fixed.metadata["adapted"]["examples_per_digit"]["0"] == 0
    rest7 = y_rest == 7
    assert read_right(fixed, x_rest[rest7], y_rest[rest7]) >= max(read_right(
        builtin, x_rest[rest7], y_rest[rest7]), 0.875)
    others = ~rest7
    assert read_right(fixed, x_rest[others], y_rest[others]) >= read_right(
        builtin, x_rest[others], y_rest[others]) - 0.03
    x_test, y_test = mnist.x_test[:2000], mnist.y_test[:2000]
    assert np.mean(fixed.predict(x_test) == y_test) >= np.mean(
        builtin.predict(x_test) == y_test) - 0.01


def test_one_example_per_digit_helps(builtin, writing, replay):
    x, y, x_rest, y_rest = writing
    first = np.arange(len(y)) % 3 == 0
    one = adapt_model(builtin, x[first], y[first], QUICK, replay=replay)
    assert read_right(one, x_rest, y_rest) > read_right(builtin, x_rest, y_rest) + 0.05


def _fields(settings: AdaptSettings) -> dict:
    return dataclasses.asdict(settings)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_learns_a_writer_and_keeps_the_base(method, trained_model, writing,
                                                         mnist):
    """Each method (the comparison in docs/adapt.md) on the session's small model."""
    x, y, _, _ = writing
    settings = AdaptSettings(method=method, replay_digits=300, replay_nondigits=50, copies=2,
                             steps=30)
    new = adapt_model(trained_model, x, y, settings, mnist=mnist)
    assert all(np.isfinite(p).all() for p in new.params.values())
    assert read_right(new, x, y) >= max(read_right(trained_model, x, y), 0.95)
    if method != "both":
        assert new.params["W1"] is trained_model.params["W1"]  # only the output side moves
    x_test, y_test = mnist.x_test[:1000], mnist.y_test[:1000]
    assert np.mean(new.predict(x_test) == y_test) >= np.mean(
        trained_model.predict(x_test) == y_test) - 0.02


def test_adapt_params_leaves_the_base_untouched(trained_model, writing, mnist):
    before = {k: v.copy() for k, v in trained_model.params.items()}
    settings = AdaptSettings(replay_digits=100, replay_nondigits=0, copies=0, steps=5)
    replay = prepare_replay(trained_model, mnist, settings)
    x, y, _, _ = writing
    adapt_params(trained_model.params, network_inputs(x, trained_model.config), y, replay,
                 settings)
    for name, value in before.items():
        np.testing.assert_array_equal(trained_model.params[name], value)


def test_bad_examples_and_models_are_refused(trained_model, mnist):
    with pytest.raises(ValueError, match="labels must be digits"):
        trained_model.adapt(np.zeros((2, 28, 28)), [3, 12], mnist=mnist)
    with pytest.raises(ValueError, match="at least one"):
        trained_model.adapt(np.zeros((0, 28, 28)), [], mnist=mnist)
    with pytest.raises(ConfigError, match="steps"):
        AdaptSettings(steps=0)
    seed = Model(network.init_params(np.random.default_rng(0), 4, biases=False),
                 preset("seed", hidden=4))
    with pytest.raises(ConfigError, match="squared_error"):
        seed.adapt(np.zeros((1, 28, 28)), [1], mnist=mnist)


# ---- the command ------------------------------------------------------------------------


def _save_pictures(folder: Path, pictures, labels) -> None:
    for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(folder / str(label) / f"{i}.png")


def test_cli_adapts_and_the_result_is_an_ordinary_model(model_file, tmp_path, capsys):
    pictures, labels = writer_digits(HARD_WRITER, 2, np.random.default_rng(1))
    _save_pictures(tmp_path / "mine", pictures, labels)
    Image.new("L", (50, 50), 255).save(tmp_path / "mine" / "3" / "blank.png")
    (tmp_path / "mine" / "4" / "notes.png").write_text("not a picture")
    out = tmp_path / "adapted.npz"
    code = main(["adapt", str(model_file), str(tmp_path / "mine"), "--out", str(out),
                 "--replay-digits", "200", "--replay-nondigits", "20", "--steps", "20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "adapted" in captured.out and "20 examples" in captured.out
    skipped = [line for line in captured.err.splitlines() if line.startswith("digitnet: skipped")]
    assert len(skipped) == 2 and "blank" in captured.err and "notes.png" in captured.err
    meta = load_model(out).metadata["adapted"]
    assert meta["base"]["name"] == str(model_file) and meta["examples"] == 20
    assert meta["settings"]["steps"] == 20
    # predict and evaluate take it as they take any model
    assert main(["predict", str(out), str(tmp_path / "mine" / "7")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] > 0.9


@pytest.mark.parametrize("layout, message", [
    ("empty", "no digit folders"),
    ("loose", "must be in a subfolder named by their digit"),
    ("word", "folder name 'seven' is not a digit"),
    ("blank", "no readable pictures"),
    ("missing", "not a folder"),
])
def test_cli_refuses_a_badly_laid_out_folder(layout, message, model_file, tmp_path, capsys):
    folder = tmp_path / "examples"
    if layout != "missing":
        folder.mkdir()
    picture = Image.new("L", (40, 40), 255)
    if layout == "loose":
        picture.save(folder / "a.png")
    elif layout == "word":
        (folder / "seven").mkdir()
    elif layout == "blank":
        (folder / "2").mkdir()
        picture.save(folder / "2" / "blank.png")
    code = main(["adapt", str(model_file), str(folder), "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("digitnet: error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.npz").exists()


def test_cli_refuses_the_seed_network(tmp_path, capsys):
    seed = Model(network.init_params(np.random.RandomState(1), 4, init="uniform",
                                     biases=False, dtype=np.float64), preset("seed", hidden=4))
    seed.save(tmp_path / "seed.npz")
    (tmp_path / "ex" / "1").mkdir(parents=True)
    code = main(["adapt", str(tmp_path / "seed.npz"), str(tmp_path / "ex"), "--out",
                 str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert code == 1 and "squared_error" in err and "cross_entropy" in err


# ---- partial_fit ------------------------------------------------------------------------

STREAM = dict(hidden=32, epochs=1, shuffle=False, schedule="constant", val_split=0,
              batch_size=64, lr=0.05, threads=1)


def test_partial_fit_matches_fit_for_one_epoch_on_the_same_batches(mnist):
    x, y = mnist.x_train[:640], mnist.y_train[:640]
    whole = Classifier(**STREAM).fit(x, y)
    stream = Classifier(**STREAM)
    for i in range(10):
        stream.partial_fit(x[i * 64:(i + 1) * 64], y[i * 64:(i + 1) * 64],
                           classes=range(10) if i == 0 else None)
    assert stream.n_steps_ == 10
    for name, value in whole.model_.params.items():
        np.testing.assert_allclose(stream.model_.params[name], value, rtol=1e-4, atol=1e-6)


def test_partial_fit_keeps_the_optimizer_state(mnist):
    x, y = mnist.x_train[:128], mnist.y_train[:128]
    stream = Classifier(**STREAM).partial_fit(x[:64], y[:64], classes=range(10))
    velocity = stream.state_.opt_state["v.W2"].copy()
    assert np.abs(velocity).max() > 0
    stream.partial_fit(x[64:], y[64:])
    fresh = Classifier(**STREAM).partial_fit(x[:64], y[:64], classes=range(10))
    fresh.state_.opt_state = {k: np.zeros_like(v) for k, v in fresh.state_.opt_state.items()}
    fresh.partial_fit(x[64:], y[64:])  # the same second step, momentum forgotten
    assert not np.allclose(stream.model_.params["W2"], fresh.model_.params["W2"])


def test_partial_fit_semantics(mnist):
    x, y = mnist.x_train[:64], mnist.y_train[:64]
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        Classifier(**STREAM).partial_fit(x, y)
    with pytest.raises(ValueError, match="not in classes"):
        Classifier(**STREAM).partial_fit(x, y, classes=[0, 1])
    stream = Classifier(**STREAM).partial_fit(x, y, classes=range(10))
    with pytest.raises(ValueError, match="differ from those of the first call"):
        stream.partial_fit(x, y, classes=[0, 1, 2])
    assert 0 <= stream.score(x, y) <= 1
    # after fit, partial_fit continues from the fitted weights
    fitted = Classifier(**STREAM).fit(x, y)
    start = fitted.model_.params["W2"].copy()
    fitted.partial_fit(x, y, classes=range(10))
    assert fitted.n_steps_ == 1 and not np.array_equal(fitted.model_.params["W2"], start)
