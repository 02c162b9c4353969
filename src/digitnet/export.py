"""ONNX export: a digitnet model as a standard ONNX graph, to run without digitnet.

The graph (ONNX opset 17, IR version 8, every tensor float32, batch dimension "N" free):

    pixels (N, 784) float32      the flattened output of `digitnet.preprocess`, on the
       |                         0..255 scale (0 = background, 255 = ink), i.e. exactly
       |                         what `Model.predict_proba` takes
    Mul(input_scale)             the network's own input scaling (1/255 for the fast
       |                         preset); left out when the scale is 1 (the seed preset)
    MatMul(W1) -> Add(b1) -> Relu -> MatMul(W2) -> Add(b2)     (Adds only with biases)
    Softmax(axis=1)
       |
    probabilities (N, 10) float32   the same numbers as `Model.predict_proba`

The scaling stays a separate Mul node rather than being folded into W1 so that the
graph computes what digitnet computes, step for step, and its input is the one documented
pixel convention. Float64 models are cast to float32. The file carries metadata_props:
the digitnet version, the source model's test accuracy, and the input convention.

Image preprocessing is not in the graph: callers run `digitnet.preprocess` (or their own
copy of it) first. Needs the `onnx` package (`pip install "digitnet[onnx]"`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import network
from .constants import architecture
from .errors import DigitnetError
from .files import atomic_write
from .model import Model

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17; keeps the file readable by older runtimes
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
INPUT_CONVENTION = ("pixels: float32 (N, 784), row-major 28x28 images on 0..255 "
                    "(0 = background, 255 = ink), made as MNIST was (digitnet.preprocess)")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise DigitnetError('ONNX export needs the onnx package: pip install "digitnet[onnx]"') \
            from None
    return onnx


def to_onnx(model: Model) -> Any:
    """Build the ONNX graph of `model` (see the module docstring); returns an onnx.ModelProto."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    def constant(name: str, value: np.ndarray) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    initializers, nodes = [], []
    current = INPUT_NAME

    def step(op: str, operand: str | None = None, value: Any = None, **attrs: Any) -> None:
        nonlocal current
        inputs = [current]
        if operand is not None:
            initializers.append(constant(operand, value))
            inputs.append(operand)
        output = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        current = output

    scale = model.config.input_scale
    if scale != 1.0:
        step("Mul", "input_scale", np.float32(scale))  # (N, 784)
    step("MatMul", "W1", model.params["W1"])  # (N, H)
    if "b1" in model.params:
        step("Add", "b1", model.params["b1"])
    step("Relu")
    step("MatMul", "W2", model.params["W2"])  # (N, 10)
    if "b2" in model.params:
        step("Add", "b2", model.params["b2"])
    step("Softmax", axis=1)
    nodes[-1].output[0] = OUTPUT_NAME

    graph = helper.make_graph(
        nodes, "digitnet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", network.N_INPUTS])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       ["N", network.N_OUTPUTS])],
        initializer=initializers,
        doc_string=f"{architecture(model.hidden)} ReLU network. Input {INPUT_CONVENTION}.",
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="digitnet", ir_version=IR_VERSION)
    props = {"input": INPUT_CONVENTION, "output": "probabilities: float32 (N, 10), digits 0..9",
             "digitnet_version": str(model.metadata.get("digitnet_version", "")),
             "test_accuracy": str(model.metadata.get("test_accuracy", "")),
             "source_dtype": str(model.params["W1"].dtype)}
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Model, path: str | Path) -> None:
    """Write `model` as an ONNX file at `path` (atomically: a temporary file, then rename)."""
    data = to_onnx(model).SerializeToString()
    atomic_write(path, lambda f: f.write(data))
