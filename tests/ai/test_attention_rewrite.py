"""attention.py: the build's rewrite of ``q @ (Transpose(k) * s)`` into one FusedMatMul that reads
the keys transposed, run with the real ONNX Runtime before and after."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from services.ai.modelbuild import attention


def _scores_model(*, keys_used_elsewhere: bool = False) -> onnx.ModelProto:
    """Moonshine's exported attention scores: s = sqrt(1 / sqrt(head_dim)) on both sides."""
    q = helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 8, "n", 52])
    k = helper.make_tensor_value_info("k", TensorProto.FLOAT, [1, 8, "t", 52])
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)]
    nodes = [
        helper.make_node("Sqrt", ["inverse_root"], ["s"]),
        helper.make_node("Mul", ["q", "s"], ["q_scaled"]),
        helper.make_node("Transpose", ["k"], ["k_t"], perm=[0, 1, 3, 2]),
        helper.make_node("Mul", ["k_t", "s"], ["k_scaled"]),
        helper.make_node("MatMul", ["q_scaled", "k_scaled"], ["scores"]),
    ]
    if keys_used_elsewhere:
        nodes.append(helper.make_node("Identity", ["k_t"], ["k_t_out"]))
        outputs.append(helper.make_tensor_value_info("k_t_out", TensorProto.FLOAT, None))
    root = numpy_helper.from_array(np.array(1 / np.sqrt(52), dtype=np.float32), "inverse_root")
    graph = helper.make_graph(nodes, "scores", [q, k], outputs, initializer=[root])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, feeds: dict[str, NDArray[Any]]) -> list[NDArray[Any]]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(x) for x in session.run(None, feeds)]


def test_the_keys_are_read_transposed_in_the_product_with_the_same_scores() -> None:
    rng = np.random.default_rng(5)
    feeds = {
        "q": rng.standard_normal((1, 8, 3, 52)).astype(np.float32),
        "k": rng.standard_normal((1, 8, 40, 52)).astype(np.float32),
    }
    model = _scores_model()
    before = _run(model, feeds)
    assert attention.fuse_key_transposes(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "Transpose" not in ops and "FusedMatMul" in ops and ops.count("Mul") == 2  # q side only
    after = _run(model, feeds)
    np.testing.assert_allclose(after[0], before[0], rtol=1e-5, atol=1e-5)


def test_transposed_keys_that_something_else_reads_are_left_alone() -> None:
    model = _scores_model(keys_used_elsewhere=True)
    assert attention.fuse_key_transposes(model) == 0
    assert [n.op_type for n in model.graph.node].count("Transpose") == 1
