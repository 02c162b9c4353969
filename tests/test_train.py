"""Minibatch training: determinism, divergence, interrupt and resume, early stopping."""

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from test_data import write_dataset

from digitnet import Classifier, Config, TrainingDiverged, preset, train
from digitnet.checkpoint import load_checkpoint, save_checkpoint
from digitnet.cli import build_parser
from digitnet.inputs import network_inputs


@pytest.fixture(scope="module")
def small(mnist):
    """3,000 training and 1,000 test images of real MNIST."""
    return mnist.x_train[:3000], mnist.y_train[:3000], mnist.x_test[:1000], mnist.y_test[:1000]


def small_config(**overrides):
    # threads fixed: the same seed gives the same bits with the same thread count
    return preset("fast", **{"hidden": 64, "epochs": 3, "val_split": 500, "threads": 1,
                             **overrides})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_same_seed_same_weights_and_different_seed_differs(small, optimizer):
    x, y, _, _ = small
    lr = 0.001 if optimizer == "adam" else 0.1
    runs = [train.fit(small_config(optimizer=optimizer, lr=lr, seed=s), x, y).params
            for s in (7, 7, 8)]
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    assert not np.array_equal(runs[0]["W1"], runs[2]["W1"])


def test_every_optimizer_learns(small):
    x, y, xt, yt = small
    for optimizer, lr in [("sgd", 0.5), ("momentum", 0.1), ("nesterov", 0.1), ("adam", 0.005)]:
        result = train.fit(small_config(optimizer=optimizer, lr=lr, epochs=5), x, y,
                           test=(xt, yt))
        assert result.test_accuracy > 0.85, (optimizer, result.test_accuracy)


def test_nan_stops_training_with_a_clear_message(small):
    x, y, _, _ = small
    with pytest.raises(TrainingDiverged, match="try a lower learning rate than 1e\\+06"):
        train.fit(small_config(lr=1e6, loss="squared_error"), x, y)


def test_nan_in_the_cli_is_one_line_and_exit_1(tmp_path):
    write_dataset(tmp_path, n_train=600, n_test=50)
    result = subprocess.run(
        [sys.executable, "-m", "digitnet", "train", "--data-dir", str(tmp_path), "--lr", "1e9",
         "--loss", "squared_error", "--val-split", "100", "--hidden", "32", "--quiet"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "diverged" in result.stderr and "lower learning rate" in result.stderr


def _interrupt_in_epoch(n):
    """A progress factory that presses Ctrl-C in the middle of epoch n."""
    def factory(epoch, total):
        if epoch != n:
            return None
        seen = [0]

        def tick(k):
            seen[0] += k
            if seen[0] > total // 2:
                raise KeyboardInterrupt
        return tick
    return factory


@pytest.mark.parametrize("settings", [
    {"optimizer": "nesterov"},
    {"optimizer": "adam", "lr": 0.002, "schedule": "onecycle"},
    {"early_stopping": True, "patience": 10, "weight_decay": 1e-4},
])
def test_resume_equals_uninterrupted(small, tmp_path, settings):
    x, y, xt, yt = small
    config = small_config(epochs=4, **settings)
    whole = train.fit(config, x, y, test=(xt, yt))

    path = tmp_path / "ckpt.npz"
    saved = []

    def on_interrupt(state):
        save_checkpoint(path, state, config, {"note": "test"})
        saved.append(state.epoch)

    with pytest.raises(KeyboardInterrupt):
        train.fit(config, x, y, test=(xt, yt), progress=_interrupt_in_epoch(3),
                  on_interrupt=on_interrupt)
    assert saved == [2]  # rolled back to the end of the last complete epoch
    loaded_config, state = load_checkpoint(path)
    assert loaded_config == config and state.epoch == 2
    resumed = train.fit(loaded_config, x, y, test=(xt, yt), state=state)
    for name in whole.params:
        np.testing.assert_array_equal(resumed.params[name], whole.params[name], err_msg=name)
    assert resumed.test_accuracy == whole.test_accuracy
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]


def test_ctrl_c_in_the_cli_saves_a_checkpoint_that_resumes(tmp_path):
    write_dataset(tmp_path, n_train=2000, n_test=100)
    ckpt = tmp_path / "run.checkpoint.npz"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "digitnet", "train", "--data-dir", str(tmp_path),
               "--val-split", "100", "--hidden", "256", "--batch-size", "16", "--epochs", "200",
               "--checkpoint", str(ckpt)]
    # A shell's background job ignores SIGINT, and children inherit that: restore the default
    # so Python installs its Ctrl-C handler however the test run was started.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert f"checkpoint saved to {ckpt}" in err and "--resume" in err
    _, state = load_checkpoint(ckpt)
    assert state.epoch >= 1
    resumed = subprocess.run(
        [sys.executable, "-m", "digitnet", "train", "--resume", str(ckpt), "--data-dir",
         str(tmp_path), "--epochs", str(state.epoch + 1), "--quiet"],
        capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "test accuracy" in resumed.stdout


def test_early_stopping_keeps_the_best_validation_weights(small):
    x, y, _, _ = small
    config = small_config(epochs=30, early_stopping=True, patience=2, lr=0.5, schedule="constant")
    result = train.fit(config, x, y)
    val = [r["val_accuracy"] for r in result.history]
    assert result.best_epoch == 1 + int(np.argmax(val))
    if result.stopped_early:
        assert len(val) - result.best_epoch == config.patience
    # the returned weights are the best epoch's: recompute their validation accuracy
    split = train.split_validation(network_inputs(x, config), y, config.val_split,
                                   np.random.default_rng([config.seed, 1]))
    accuracy, _ = train.evaluate(result.params, split[2], split[3], config.loss)
    assert accuracy == max(val)


def test_validation_images_are_held_out_of_training():
    x = np.arange(100 * 784, dtype=np.float32).reshape(100, 784)
    y = np.arange(100) % 10
    xt, yt, xv, yv = train.split_validation(x, y, 30, np.random.default_rng(0))
    assert len(xt) == len(yt) == 70 and len(xv) == len(yv) == 30
    assert not set(xt[:, 0].tolist()) & set(xv[:, 0].tolist())
    # labels travel with their images
    np.testing.assert_array_equal(yv, (xv[:, 0] // 784).astype(int) % 10)


def test_every_config_field_is_a_cli_flag():
    parser = build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train_parser._actions}
    assert {f.name for f in dataclasses.fields(Config)} - {"preset"} <= dests
    args = parser.parse_args(["train", "--val-split", "10", "--no-biases", "--schedule", "step"])
    assert (args.val_split, args.biases, args.schedule) == (10, False, "step")


def test_classifier_api(small):
    x, y, xt, yt = small
    clf = Classifier(hidden=32, epochs=2, val_split=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(xt)
    clf.fit(x, y)
    proba = clf.predict_proba(xt)
    assert proba.shape == (1000, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert (clf.predict(xt) == proba.argmax(axis=1)).all()
    assert clf.score(xt, yt) == np.mean(clf.predict(xt) == yt) > 0.8
    assert [r["epoch"] for r in clf.history_] == [1, 2]
    with pytest.raises(ValueError, match=r"shaped \(n, 28, 28\) or \(n, 784\)"):
        clf.fit(x[:, :10], y)
    with pytest.raises(ValueError, match=r"digits 0\.\.9"):
        clf.fit(x, y + 10)


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="hidden must be > 0, got -3"):
        Config(hidden=-3)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Config(optimizer="rmsprop")
    with pytest.raises(ValueError, match="early_stopping needs a validation set"):
        Config(early_stopping=True, val_split=0)


@pytest.mark.parametrize("overrides", [
    {},
    {"loss": "squared_error", "label_smoothing": 0.0, "optimizer": "sgd", "lr": 0.05},
    {"dropout": 0.3, "input_dropout": 0.1, "optimizer": "adam", "lr": 0.003},
    {"optimizer": "momentum", "weight_decay": 1e-3, "max_norm": 0.5, "biases": False},
    {"dtype": "float64", "optimizer": "nesterov"},
])
def test_fast_step_is_the_reference_step(small, overrides):
    """`minibatch_step` (inked columns only, preallocated arrays) makes the same updates as
    the plain `reference_step` on the same batches, for every loss, optimizer and
    regulariser, drawing the same dropout masks."""
    x, y, _, _ = small
    config = small_config(**overrides)
    inputs = network_inputs(x[:600], config)
    inputs = inputs[:, train.ink_order(inputs)]  # (600, 784) in ink order, as fit has them
    assert not inputs[:, -50:].any()  # so the fast step does skip columns
    reference, fast = train.new_state(config), train.new_state(config)
    start = {name: p.copy() for name, p in reference.params.items()}
    space = train._workspace(fast.params, 250)  # the largest batch; smaller ones use a part
    for step, batch in enumerate(np.split(np.arange(600), [200, 350])):  # 200, 150, 250 rows
        lr = train.scheduled_lr(config, step / 3)
        want = train.reference_step(reference, inputs[batch], y[batch], config, lr)
        got = train.minibatch_step(fast, inputs[batch], y[batch], config, lr, space)
        assert got == pytest.approx(want, rel=1e-5)
    tolerance = 1e-12 if config.dtype == "float64" else 2e-6
    for name, p in reference.params.items():
        np.testing.assert_allclose(fast.params[name], p, rtol=0, atol=tolerance, err_msg=name)
        assert np.abs(p - start[name]).max() > 100 * tolerance, name  # the weights did move
    assert reference.rng.random() == fast.rng.random()  # the same random draws were made
