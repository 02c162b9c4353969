"""ONNX export, checked by running the exported graph in onnxruntime."""

import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from test_cli import assert_one_line_error, run

from digitnet import DigitnetError, Model, fit, load_model, preprocess, preset
from digitnet.export import export_onnx, to_onnx


def session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_probabilities(path, x):
    """Run the exported graph on pixels x (n, 28, 28) uint8: flattened float32, 0..255."""
    return session(path).run(None, {"pixels": x.reshape(len(x), 784).astype(np.float32)})[0]


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
