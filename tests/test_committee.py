"""Committees (committee.py, `digitnet committee`): networks averaged as one wider network,
and float16 storage of a model file's weights."""

import dataclasses
import json

import numpy as np
import pytest

from digitnet import network, train
from digitnet.cli import main
from digitnet.committee import combine
from digitnet.config import preset
from digitnet.errors import ConfigError
from digitnet.model import Model, load_model


@pytest.fixture(scope="module")
def members(mnist):
    """Two small networks trained alike from seeds 1 and 2, holding out the same images."""
    models = []
    for seed in (1, 2):
        config = preset("fast", hidden=64, epochs=1, seed=seed, split_seed=1,
                        reject_rate=0.01, threads=1)
        result = train.fit(config, mnist.x_train, mnist.y_train,
                           test=(mnist.x_test, mnist.y_test))
        models.append(Model.from_training(result, config, mnist))
    return models


@pytest.fixture(scope="module")
def member_files(members, tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    paths = [folder / f"m{k}.npz" for k in (1, 2)]
    for model, path in zip(members, paths, strict=True):
        model.save(path)
    return paths


def test_the_committee_averages_its_members_outputs(members, mnist):
    committee = combine(members, mnist)
    x = mnist.x_test[:500]
    mean = np.mean([m._outputs(x) for m in members], axis=0)
    np.testing.assert_allclose(committee._outputs(x), mean, rtol=1e-4, atol=1e-4)
    assert committee.hidden == 128
    assert [c["config"]["seed"] for c in committee.metadata["committee"]] == [1, 2]
    accuracy = float(np.mean(committee.predict(mnist.x_test) == mnist.y_test))
    assert committee.metadata["test_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert accuracy > max(m.metadata["test_accuracy"] for m in members) - 0.005


def test_the_threshold_is_set_on_the_shared_validation_images(members, mnist):
    committee = combine(members, mnist)
    _, held = train.validation_indices(60000, 5000, np.random.default_rng([1, 1]))
    declined = committee.digit_score(mnist.x_train[held]) < committee.reject_threshold
    assert declined.mean() == pytest.approx(0.01, abs=0.001)  # the config's reject_rate


def test_members_must_read_inputs_alike_and_share_their_validation_images(members, mnist):
    other_split = Model(members[1].params, dataclasses.replace(members[1].config, split_seed=2),
                        members[1].metadata)
    with pytest.raises(ConfigError, match="--split-seed"):
        combine([members[0], other_split], mnist)
    deskewed = Model(members[1].params, dataclasses.replace(members[1].config, deskew=True),
                     members[1].metadata)
    with pytest.raises(ConfigError, match="deskew"):
        combine([members[0], deskewed], mnist)
    with pytest.raises(ConfigError, match="at least two"):
        combine(members[:1], mnist)


def test_committee_command_with_float16_storage(member_files, tmp_path, capsys, mnist):
    out = tmp_path / "both.npz"
    assert main(["committee", *map(str, member_files), "--out", str(out), "--float16"]) == 0
    assert "committee of 2 (784-128-10)" in capsys.readouterr().out
    model = load_model(out)
    assert model.params["W1"].dtype == np.float32  # widened again on loading
    assert model.metadata["architecture"]["stored_as"] == "float16"
    exact = network.side_by_side([load_model(p).params for p in member_files])
    np.testing.assert_array_equal(model.params["W1"], exact["W1"].astype(np.float16))
    assert main(["evaluate", str(out), "--json", "-"]) == 0
    figures = json.loads(capsys.readouterr().out)
    # measured on the rounded weights, so the file's figures are the file's own
    assert figures["test_accuracy"] == model.metadata["test_accuracy"]
    assert model.reject_threshold == train.measure(model.params, model.config,
                                                   mnist)["reject_threshold"]


def test_train_command_with_float16_storage(tmp_path, capsys, mnist):
    out = tmp_path / "half.npz"
    argv = ["train", "--hidden", "32", "--epochs", "1", "--reject-rate", "0.01",
            "--threads", "1", "-q"]
    assert main([*argv, "--float16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    model = load_model(out)
    assert model.metadata["architecture"]["stored_as"] == "float16"
    assert out.stat().st_size < 0.6 * (784 * 32 * 4)  # about half of float32's 100 KB
    np.testing.assert_array_equal(model.params["W1"],
                                  model.params["W1"].astype(np.float16).astype(np.float32))
    figures = train.measure(model.params, model.config, mnist)
    assert model.metadata["test_accuracy"] == figures["test_accuracy"]
    assert model.reject_threshold == figures["reject_threshold"]
    assert f"test accuracy {100 * figures['test_accuracy']:.2f}% (float16 weights)" in printed
    with pytest.raises(SystemExit) as refused:  # the post's float64 network: before training
        main(["train", "--preset", "seed", "--float16", "--out", str(tmp_path / "s.npz")])
    assert refused.value.code == 2
    assert "--float16 stores float32 weights" in capsys.readouterr().err
    assert not (tmp_path / "s.npz").exists()


def test_committee_command_errors_are_one_line(member_files, tmp_path, capsys):
    assert main(["committee", str(member_files[0]), "--out", str(tmp_path / "c.npz")]) == 1
    assert main(["committee", *map(str, member_files), "--out", str(member_files[0])]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["digitnet: error: a committee needs at least two models",
                   f"digitnet: error: --out {member_files[0]} is the model file: it would be "
                   f"overwritten"]
    assert not (tmp_path / "c.npz").exists()


def test_split_seed_defaults_to_the_seed_and_rejects_nonsense():
    assert preset("fast", seed=5).validation_seed == 5
    assert preset("fast", seed=5, split_seed=1).validation_seed == 1
    with pytest.raises(ValueError, match="split_seed must be >= 0, or -1"):
        preset("fast", split_seed=-2)


def test_weights_too_large_for_float16_are_one_clear_error(members, tmp_path, capsys):
    big = Model({k: v.copy() for k, v in members[1].params.items()}, members[1].config,
                members[1].metadata)
    big.params["W2"][0, 0] = 3e5  # halved by the mean: still beyond float16 (65504)
    big.save(tmp_path / "big.npz")
    assert main(["committee", str(tmp_path / "big.npz"), str(tmp_path / "big.npz"), "--out",
                 str(tmp_path / "c.npz"), "--float16"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error: ") and "too large to store as float16" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "c.npz").exists()
