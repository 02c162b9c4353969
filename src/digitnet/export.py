"""ONNX export: a digitnet model as a standard ONNX graph that answers as digitnet does.

The graph (ONNX opset 17, IR version 8, every tensor float32, batch dimension "N" free):

    pixels (N, 784) float32      the flattened output of `digitnet.preprocess`, on the
       |                         0..255 scale (0 = background, 255 = ink), i.e. exactly
       |                         what `Model.predict_proba` takes
    deskew                       only for models trained with `deskew`: `images.deskew`
       |                         in standard ops (see `_deskew_nodes`)
    Mul(input_scale)             the network's own input scaling (1/255 for the fast
       |                         preset); left out when the scale is 1 (the seed preset)
    MatMul(W1) -> Add(b1) -> Relu -> MatMul(W2) -> Add(b2)     (Adds only with biases)
       |
    logits (N, 10) float32       the network's outputs z (scores, for a squared-error
       |                         network such as the seed preset's)
    Softmax(axis=1)
       |
    probabilities (N, 10) float32   the same numbers as `Model.predict_proba`

Every model kind is exported whole: a committee is one wider network (committee.py), a
float16 file's weights are read back as the float32 numbers digitnet computes with, and
float64 weights are cast to float32 (digitnet's float64 answers differ from the graph's
by rounding only; tests/test_export.py measures it). The file carries metadata_props:
the digitnet version, the source model's test accuracy, the input convention, and how
the model declines a picture: `reject_threshold` and `reject_score` (the score compared
with it: "max_probability", the largest of the probabilities). A consumer that wants
another score computes it from `logits`.

A model that cannot be written exactly (weights beyond float32's range) is refused with
a ModelFileError, in one line, rather than written wrong. Needs the `onnx` package
(`pip install "digitnet[onnx]"`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import network
from .constants import SIDE, architecture
from .errors import DigitnetError, ModelFileError
from .files import atomic_write
from .images import MAX_SLANT
from .model import Model

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17; keeps the file readable by older runtimes
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
LOGITS_NAME = "logits"
REJECT_SCORE = "max_probability"  # the default score a model's reject_threshold applies to
INPUT_CONVENTION = ("pixels: float32 (N, 784), row-major 28x28 images on 0..255 "
                    "(0 = background, 255 = ink), made as MNIST was (digitnet.preprocess)")

# images._deskew's constants, as its arithmetic uses them
_VAR_FLOOR = 1e-3  # a row variance at or below this means "no slant"
_PAD_ROWS, _PAD_COLS = SIDE + 2, SIDE + 3  # augment.bilinear's zero-padded image (30, 31)
_X_LIMIT = _PAD_ROWS - 1.001  # bilinear clips padded x coordinates into [0, 28.999]
_INT64 = 7  # onnx.TensorProto.INT64


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise DigitnetError('ONNX export needs the onnx package: pip install "digitnet[onnx]"') \
            from None
    return onnx


class _Graph:
    """Nodes and initializers of a graph being built; `op` adds one node, `const` one
    constant, and each returns the name of its output."""

    def __init__(self, helper: Any, numpy_helper: Any):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op: str, *inputs: str, name: str | None = None, **attrs: Any) -> str:
        output = name or f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op, list(inputs), [output],
                                                name=f"n{len(self.nodes)}_{op}", **attrs))
        return output


def _deskew_nodes(g: _Graph, pixels: str) -> str:
    """`images._deskew` on pixels (N, 784) float32 -> (N, 784) float32, op for op.

    Moments: mass m, row and column sums, centres cy = sum_r r * row_r / m (cx likewise),
    var_y = sum_r row_r (r - cy)^2 / m, cov_xy = sum_rc (r - cy) x_rc (c - cx) / m;
    slant = cov_xy / max(var_y, 1e-3) when var_y > 1e-3 and m > 0, else 0, clipped to
    +-MAX_SLANT. Shear: output(i, j) = input(i, j + slant (i - cy)), read by bilinear
    interpolation from the image padded with zeros, as augment.bilinear reads it (the
    row coordinate is whole, so only the two neighbours along the row count), with the
    coordinate clipped into the padded image exactly as there.
    """
    rows = np.arange(SIDE, dtype=np.float32)
    image = g.op("Reshape", pixels, g.const("image_shape", [-1, SIDE, SIDE], np.int64))
    row_mass = g.op("ReduceSum", image, g.const("axis_2", [2], np.int64), keepdims=0)  # (N, 28)
    col_mass = g.op("ReduceSum", image, g.const("axis_1", [1], np.int64), keepdims=0)  # (N, 28)
    mass = g.op("ReduceSum", row_mass, "axis_1", keepdims=1)  # (N, 1)
    inked = g.op("Greater", mass, g.const("zero", 0.0))
    safe = g.op("Where", inked, mass, g.const("one", 1.0))
    index = g.const("row_index", rows[:, None])  # (28, 1)
    cy = g.op("Div", g.op("MatMul", row_mass, index), safe)  # (N, 1)
    cx = g.op("Div", g.op("MatMul", col_mass, index), safe)
    positions = g.const("positions", rows)  # (28,)
    dy = g.op("Sub", positions, cy)  # (N, 28)
    dx = g.op("Sub", positions, cx)
    var_y = g.op("Div", g.op("ReduceSum", g.op("Mul", row_mass, g.op("Mul", dy, dy)),
                             "axis_1", keepdims=1), safe)  # (N, 1)
    x_dx = g.op("MatMul", image, g.op("Unsqueeze", dx, "axis_2"))  # (N, 28, 1)
    x_dx = g.op("Squeeze", x_dx, "axis_2")  # (N, 28)
    cov = g.op("Div", g.op("ReduceSum", g.op("Mul", dy, x_dx), "axis_1", keepdims=1), safe)
    floor = g.const("var_floor", _VAR_FLOOR)
    slant = g.op("Where", g.op("Greater", var_y, floor),
                 g.op("Div", cov, g.op("Max", var_y, floor)), "zero")
    slant = g.op("Where", inked, slant, "zero")
    slant = g.op("Clip", slant, g.const("slant_min", -MAX_SLANT), g.const("slant_max", MAX_SLANT))
    shift = g.op("Mul", g.op("Unsqueeze", slant, "axis_2"), g.op("Unsqueeze", dy, "axis_2"))
    sx = g.op("Add", positions, shift)  # (N, 28, 28): source column of each output pixel
    x = g.op("Clip", g.op("Add", sx, "one"), "zero", g.const("x_limit", _X_LIMIT))
    x0 = g.op("Floor", x)
    weight = g.op("Reshape", g.op("Sub", x, x0), g.const("flat_shape", [-1, SIDE * SIDE],
                                                         np.int64))  # (N, 784)
    row_start = (np.arange(SIDE, dtype=np.int64)[:, None] + 1) * _PAD_COLS  # (28, 1)
    left = g.op("Add", g.op("Cast", x0, to=_INT64), g.const("row_start", row_start, np.int64))
    left = g.op("Reshape", left, "flat_shape")  # (N, 784) indices into the padded image
    right = g.op("Add", left, g.const("one_index", 1, np.int64))
    padded = g.op("Pad", image, g.const("pads", [0, 1, 1, 0, 1, 2], np.int64))  # (N, 30, 31)
    padded = g.op("Reshape", padded, g.const("padded_shape", [-1, _PAD_ROWS * _PAD_COLS],
                                             np.int64))
    a = g.op("GatherElements", padded, left, axis=1)
    b = g.op("GatherElements", padded, right, axis=1)
    return g.op("Add", a, g.op("Mul", g.op("Sub", b, a), weight))  # a + (b - a) * weight


def _float32_params(model: Model) -> dict[str, np.ndarray]:
    """The weights as float32; ModelFileError if a float64 weight does not fit."""
    params = {}
    for name, value in model.params.items():
        if value.dtype != np.float32 and np.abs(value).max(initial=0) > np.finfo(np.float32).max:
            raise ModelFileError(f"cannot export exactly: weight {name} exceeds float32's range "
                                 f"(ONNX graphs here are float32)")
        params[name] = value.astype(np.float32, copy=False)
    return params


def metadata_props(model: Model) -> dict[str, str]:
    """The metadata_props an exported file carries (all strings)."""
    meta = model.metadata
    return {"input": INPUT_CONVENTION,
            "output": f"{OUTPUT_NAME}: float32 (N, 10), digits 0..9; {LOGITS_NAME}: float32 "
                      "(N, 10), the network's outputs before the softmax",
            "digitnet_version": str(meta.get("digitnet_version", "")),
            "test_accuracy": str(meta.get("test_accuracy", "")),
            "source_dtype": str(model.params["W1"].dtype),
            "stored_as": str(meta.get("architecture", {}).get("stored_as", "")),
            "deskew": str(bool(model.config.deskew)).lower(),
            "reject_threshold": repr(model.reject_threshold),
            "reject_score": str(meta.get("reject_score", REJECT_SCORE)),
            "reject_rule": "a picture whose reject_score is below reject_threshold is "
                           "'not a digit'"}


def _proto(g: _Graph, outputs: list[tuple[str, int]], doc: str) -> Any:
    """The checked ModelProto of graph g: input "pixels" (N, 784), float32 outputs."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    def value(name: str, width: int) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])

    graph = helper.make_graph(g.nodes, "digitnet", [value(INPUT_NAME, network.N_INPUTS)],
                              [value(name, width) for name, width in outputs],
                              initializer=g.initializers, doc_string=doc)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="digitnet", ir_version=IR_VERSION)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _new_graph() -> _Graph:
    _onnx()
    from onnx import helper, numpy_helper

    return _Graph(helper, numpy_helper)


def deskew_onnx() -> Any:
    """The deskew step alone as an ONNX graph: "pixels" (N, 784) -> "deskewed" (N, 784),
    as `images.deskew` computes it on float32 pixels (the graph's first part for models
    trained with deskew; tests compare the two on hard cases)."""
    g = _new_graph()
    g.op("Identity", _deskew_nodes(g, INPUT_NAME), name="deskewed")
    return _proto(g, [("deskewed", network.N_INPUTS)], "images.deskew on 28x28 pixels")


def to_onnx(model: Model) -> Any:
    """Build the ONNX graph of `model` (see the module docstring); returns an onnx.ModelProto."""
    params = _float32_params(model)
    g = _new_graph()
    current = INPUT_NAME
    if model.config.deskew:
        current = _deskew_nodes(g, current)  # (N, 784)
    if model.config.input_scale != 1.0:
        current = g.op("Mul", current, g.const("input_scale", model.config.input_scale))
    current = g.op("MatMul", current, g.const("W1", params["W1"]))  # (N, H)
    if "b1" in params:
        current = g.op("Add", current, g.const("b1", params["b1"]))
    current = g.op("Relu", current)
    current = g.op("MatMul", current, g.const("W2", params["W2"]))  # (N, 10)
    if "b2" in params:
        current = g.op("Add", current, g.const("b2", params["b2"]))
    g.nodes[-1].output[0] = LOGITS_NAME
    g.op("Softmax", LOGITS_NAME, axis=1, name=OUTPUT_NAME)
    steps = "deskewed, then fed to a " if model.config.deskew else ""
    proto = _proto(g, [(OUTPUT_NAME, network.N_OUTPUTS), (LOGITS_NAME, network.N_OUTPUTS)],
                   f"Input {steps}{architecture(model.hidden)} ReLU network. "
                   f"{INPUT_CONVENTION}.")
    from onnx import helper

    helper.set_model_props(proto, metadata_props(model))
    return proto


def export_onnx(model: Model, path: str | Path) -> None:
    """Write `model` as an ONNX file at `path` (atomically: a temporary file, then rename)."""
    data = to_onnx(model).SerializeToString()
    atomic_write(path, lambda f: f.write(data))
