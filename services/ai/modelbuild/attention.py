"""Attention scores without transposing the keys on every decoder step, at build time.

Moonshine's exported attention computes its scores as ``MatMul(q * s, Transpose(k) * s)`` with
``s = sqrt(1 / sqrt(head_dim))``: on every decoder step each layer transposes its whole key cache
(the encoder's keys for the cross-attention: 8 heads x frames x 52) and multiplies it by ``s``, two
passes over a tensor that does not change from one step to the next, for the cross-attention's
keys. Here each ``MatMul(a, Mul(Transpose(k, [0, 1, 3, 2]), s))`` becomes
``FusedMatMul(Mul(a, s), k, transB=1)`` (ONNX Runtime reads ``k`` transposed in the product
itself): the scale goes to the query side, one row per step, and the key cache is read once. The
result is the same product up to float rounding (the scale is a scalar).
"""

from __future__ import annotations

import math
from collections import Counter

import onnx
from onnx import helper


def fuse_key_transposes(model: onnx.ModelProto) -> int:
    """Rewrites `model` in place (every (sub)graph); returns how many products were rewritten."""
    rewritten = _rewrite(model.graph)
    if rewritten and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return rewritten


def _rewrite(graph: onnx.GraphProto) -> int:
    rewritten = 0
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                rewritten += _rewrite(attribute.g)
            for sub in attribute.graphs:
                rewritten += _rewrite(sub)
    nodes = list(graph.node)
    producers = {output: i for i, node in enumerate(nodes) for output in node.output}
    uses = Counter(name for node in graph.node for name in node.input)
    uses.update(o.name for o in graph.output)
    # the scale: computed by a Sqrt node, or folded into a one-element initializer
    scalars = {node.output[0] for node in graph.node if node.op_type == "Sqrt"}
    scalars.update(t.name for t in graph.initializer if len(t.dims) <= 1 and math.prod(t.dims) == 1)
    dropped: set[int] = set()
    added: dict[int, onnx.NodeProto] = {}
    for index, matmul in enumerate(nodes):
        if matmul.op_type != "MatMul" or matmul.domain not in ("", "ai.onnx"):
            continue
        scaled_at = producers.get(matmul.input[1])
        scaled = nodes[scaled_at] if scaled_at is not None else None
        if scaled_at is None or scaled is None or scaled.op_type != "Mul" or uses[scaled.output[0]] != 1:
            continue
        transposed_name, scale = scaled.input
        if transposed_name in scalars:
            transposed_name, scale = scale, transposed_name
        transpose_at = producers.get(transposed_name)
        transpose = nodes[transpose_at] if transpose_at is not None else None
        if (
            scale not in scalars
            or transpose_at is None
            or transpose is None
            or transpose.op_type != "Transpose"
            or uses[transposed_name] != 1
            or [list(a.ints) for a in transpose.attribute if a.name == "perm"] != [[0, 1, 3, 2]]
        ):
            continue
        query = f"{matmul.output[0]}_query_scaled"
        added[index] = helper.make_node("Mul", [matmul.input[0], scale], [query], name=query)
        fused = helper.make_node(
            "FusedMatMul",
            [query, transpose.input[0]],
            list(matmul.output),
            name=f"{matmul.name}_fused",
            domain="com.microsoft",
            transB=1,
        )
        matmul.CopyFrom(fused)
        dropped.update((scaled_at, transpose_at))
        rewritten += 1
    if rewritten:
        kept: list[onnx.NodeProto] = []
        for index, node in enumerate(nodes):
            if index in added:
                kept.append(added[index])
            if index not in dropped:
                kept.append(onnx.NodeProto())
                kept[-1].CopyFrom(node)
        del graph.node[:]
        graph.node.extend(kept)
    return rewritten
