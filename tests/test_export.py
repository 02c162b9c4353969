"""ONNX export, checked by running the exported graph in onnxruntime."""

import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from test_cli import assert_one_line_error, run

from digitnet import Classifier, DigitnetError, Model, fit, load_model, preprocess, preset
from digitnet.committee import combine
from digitnet.export import deskew_onnx, export_onnx, to_onnx
from digitnet.images import deskew


def session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_outputs(path, x):
    """Run the exported graph on pixels x (n, 28, 28) uint8: flattened float32, 0..255;
    returns {output name: array}."""
    run = session(path)
    got = run.run(None, {"pixels": x.reshape(len(x), 784).astype(np.float32)})
    return {o.name: value for o, value in zip(run.get_outputs(), got, strict=True)}


def onnx_probabilities(path, x):
    return onnx_outputs(path, x)["probabilities"]


def assert_exports_exactly(model, mnist, tmp_path, n=2000):
    """The exported graph's probabilities equal digitnet's to 1e-4 on n MNIST test digits,
    its logits equal the network's outputs, and it picks the same digit; returns the
    largest probability difference."""
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    x = mnist.x_test[:n]
    got = onnx_outputs(path, x)
    want = model.predict_proba(x)
    difference = float(np.abs(got["probabilities"] - want).max())
    assert difference < 1e-4
    np.testing.assert_allclose(got["logits"], model._outputs(x), rtol=1e-4, atol=1e-4)
    agree = (got["probabilities"].argmax(axis=1) == want.argmax(axis=1)).mean()
    assert agree >= 0.9995  # a tie broken the other way by rounding, at most one in 2,000
    return difference


def test_onnx_agrees_with_digitnet_on_1000_test_images(trained_model, mnist, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(trained_model, path)
    x = mnist.x_test[:1000]
    got = onnx_probabilities(path, x)
    assert got.shape == (1000, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, trained_model.predict_proba(x), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), trained_model.predict(x))
    single = onnx_probabilities(path, x[:1])  # the batch dimension is free
    np.testing.assert_allclose(single, got[:1], rtol=0, atol=1e-6)


def test_graph_is_plain_standard_onnx(trained_model):
    proto = to_onnx(trained_model)
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node] == ["Mul", "MatMul", "Add", "Relu", "MatMul",
                                                     "Add", "Softmax"]
    (graph_input,) = proto.graph.input
    tensor = graph_input.type.tensor_type
    assert graph_input.name == "pixels" and tensor.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in tensor.shape.dim] == ["N", 784]
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.FLOAT}
    props = {p.key: p.value for p in proto.metadata_props}
    assert "0..255" in props["input"]


def test_seed_model_without_biases_in_float64(mnist, tmp_path):
    """The post's network: no biases, raw 0..255 inputs, float64 weights (cast to float32)."""
    small = type(mnist)(mnist.x_train[:3000], mnist.y_train[:3000], mnist.x_test[:500],
                        mnist.y_test[:500])
    config = preset("seed", epochs=1, hidden=200, test_every_epoch=False)
    result = fit(config, small.x_train, small.y_train, test=(small.x_test, small.y_test))
    model = Model.from_training(result, config, small)
    assert model.params["W1"].dtype == np.float64 and "b1" not in model.params
    path = tmp_path / "seed.onnx"
    export_onnx(model, path)
    assert [n.op_type for n in onnx.load(str(path)).graph.node] == ["MatMul", "Relu", "MatMul",
                                                                   "Softmax"]
    x = mnist.x_test[:1000]
    np.testing.assert_allclose(onnx_probabilities(path, x), model.predict_proba(x),
                               rtol=0, atol=1e-5)


def test_onnx_takes_preprocessed_pictures(trained_model, mnist, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(trained_model, path)
    picture = np.kron(255 - mnist.x_test[3], np.ones((5, 5), np.uint8))  # 140x140 on white
    pixels = preprocess(picture)[None]
    np.testing.assert_allclose(onnx_probabilities(path, pixels),
                               trained_model.predict_proba(pixels), rtol=0, atol=1e-5)


def test_cli_export(model_file, tmp_path, mnist):
    out = tmp_path / "cli.onnx"
    result = run("export", str(model_file), "--onnx", str(out))
    assert result.returncode == 0, result.stderr
    assert f"written to {out}" in result.stdout
    x = mnist.x_test[:100]
    np.testing.assert_allclose(onnx_probabilities(out, x), load_model(model_file).predict_proba(x),
                               rtol=0, atol=1e-5)
    assert_one_line_error(run("export", str(model_file), "--onnx", str(tmp_path / "no/x.onnx")),
                          "digitnet: error:", "cannot write")
    result = run("export", str(model_file))
    assert result.returncode == 2 and "--onnx" in result.stderr


def test_missing_onnx_package_is_a_clear_error(trained_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(DigitnetError, match=r"pip install \"digitnet\[onnx\]\""):
        to_onnx(trained_model)


# --- every model kind exports exactly (issue 34) -------------------------------------------

def small(mnist, n=6000):
    return type(mnist)(mnist.x_train[:n], mnist.y_train[:n], mnist.x_test, mnist.y_test,
                       mnist.source, mnist.sha256)


def test_fast_model_exports_exactly(trained_model, mnist, tmp_path):
    assert_exports_exactly(trained_model, mnist, tmp_path)


def test_seed_network_exports_exactly(mnist, tmp_path):
    """Squared error, no biases, raw 0..255 pixels, float64 weights cast to float32."""
    data = small(mnist, 3000)
    config = preset("seed", epochs=1, hidden=100, test_every_epoch=False)
    model = Model.from_training(fit(config, data.x_train, data.y_train), config, data)
    assert_exports_exactly(model, mnist, tmp_path)


@pytest.fixture(scope="module")
def deskew_members(mnist):
    """Two small networks trained as the robust preset trains: deskewed inputs, non-digits
    in training, a reject threshold; one split seed, so they can form a committee."""
    data = small(mnist)
    config = preset("fast", hidden=48, epochs=1, deskew=True, outliers=0.1,
                    reject_rate=0.005, val_split=1000, split_seed=7)
    return [Classifier(config, seed=seed).fit(
        data.x_train, data.y_train, metadata={"data_sha256": data.sha256}).model_
        for seed in (1, 2)]


def test_deskew_model_exports_exactly(deskew_members, mnist, tmp_path):
    """Today's graph left the deskew out: probabilities up to 0.998 apart on builtin."""
    model = deskew_members[0]
    assert model.config.deskew and model.reject_threshold > 0
    assert_exports_exactly(model, mnist, tmp_path)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert float(props["reject_threshold"]) == model.reject_threshold
    assert props["reject_score"] == "max_probability" and props["deskew"] == "true"


def test_committee_exports_exactly(deskew_members, mnist, tmp_path):
    committee = combine(deskew_members, small(mnist))
    assert committee.hidden == 96
    assert_exports_exactly(committee, mnist, tmp_path)


def test_float16_file_exports_exactly(deskew_members, mnist, tmp_path):
    deskew_members[1].save(tmp_path / "half.npz", stored_as="float16")
    model = load_model(tmp_path / "half.npz")
    assert_exports_exactly(model, mnist, tmp_path)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert props["stored_as"] == "float16"


def test_builtin_exports_exactly(mnist, tmp_path):
    model = load_model("builtin")
    difference = assert_exports_exactly(model, mnist, tmp_path)
    print(f"builtin: largest probability difference {difference:.2e}")
    x = mnist.x_test[:2000]
    accuracy = (onnx_probabilities(tmp_path / "model.onnx", x).argmax(axis=1)
                == mnist.y_test[:2000]).mean()
    assert accuracy == (model.predict(x) == mnist.y_test[:2000]).mean()


def test_reject_threshold_and_score_are_in_the_metadata(trained_model, tmp_path):
    model = Model(trained_model.params, trained_model.config,
                  {**trained_model.metadata, "reject_threshold": 0.625,
                   "reject_score": "margin"})
    props = {p.key: p.value for p in to_onnx(model).metadata_props}
    assert props["reject_threshold"] == "0.625" and props["reject_score"] == "margin"
    props = {p.key: p.value for p in to_onnx(trained_model).metadata_props}
    assert props["reject_threshold"] == "0.0" and props["reject_score"] == "max_probability"


def hard_images():
    """Pictures at the deskew's edges: blank, one row of ink (no row variance), slants past
    MAX_SLANT either way, ink on every border, a single pixel, faint and saturated ink."""
    images = np.zeros((12, 28, 28), np.float32)
    images[1, 14, 3:25] = 255  # a horizontal stroke: var_y = 0
    for i in range(28):
        images[2, i, min(27, i // 2)] = 200  # slant 2 rows per column: clipped to 1
        images[3, i, max(0, 27 - i * 2)] = 255  # the other way, steeper still
        images[4, i, (i * 3) % 28] = 90
    images[5, :, 0] = images[5, :, 27] = images[5, 0, :] = images[5, 27, :] = 255
    images[6, 27, 27] = 1
    images[7, 5:20, 26:28] = 255  # ink at the right edge, sheared out of the picture
    images[8, 2:26, 1:3] = 255
    images[8, 20:27, 3:27] = 128
    images[9, 13:15, 13:15] = 0.5
    images[10] = np.tril(np.full((28, 28), 255, np.float32))
    images[11] = np.random.default_rng(0).random((28, 28), np.float32) * 255
    return images


def test_deskew_graph_equals_images_deskew_on_hard_cases(mnist):
    graph = onnxruntime.InferenceSession(deskew_onnx().SerializeToString(),
                                         providers=["CPUExecutionProvider"])
    images = np.concatenate([hard_images(), mnist.x_test[:500].astype(np.float32)])
    got = graph.run(None, {"pixels": images.reshape(-1, 784)})[0].reshape(images.shape)
    np.testing.assert_allclose(got, deskew(images), rtol=0, atol=2e-3)  # on 0..255


def test_a_model_beyond_float32_is_refused(trained_model):
    params = {k: v.astype(np.float64) for k, v in trained_model.params.items()}
    params["W2"][0, 0] = 1e39
    model = Model(params, preset("fast", dtype="float64"), {})
    with pytest.raises(DigitnetError, match="cannot export exactly: weight W2 exceeds float32"):
        to_onnx(model)
