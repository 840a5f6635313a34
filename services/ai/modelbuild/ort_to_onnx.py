"""Rewrite an ORT-format model (`.ort`, a FlatBuffer) as a plain ONNX model.

moonshine_cpp ships Moonshine as `.ort` files. ONNX Runtime cannot constant-fold an ORT-format
model when it loads it, so the decoder dequantises its tied 32k x 416 embedding on every token
(about 250 ms per token on one core here); as ONNX the same graph is folded once at load (about
20 ms per token). Only what the graphs hold is translated: nodes (with subgraphs), initializers,
typed inputs and outputs, opset imports. The FlatBuffer bindings ship inside onnxruntime.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, helper

from services.ai.modelbuild import sources


def _bindings() -> Any:
    # onnxruntime ships its flatbuffers bindings as a top-level package inside a folder that also
    # holds a module named "types": append that folder (never prepend it) so the standard
    # library keeps precedence.
    folder = str(sources.package_dir("onnxruntime") / "tools" / "ort_format_model")
    if folder not in sys.path:
        sys.path.append(folder)
    from ort_flatbuffers_py import fbs

    return fbs


def _text(value: bytes | None) -> str:
    return value.decode() if value else ""


def _tensor(t: Any) -> TensorProto:
    proto = TensorProto(name=_text(t.Name()), data_type=t.DataType())
    if not t.DimsIsNone():
        proto.dims.extend(int(d) for d in t.DimsAsNumpy())
    if t.DataType() == TensorProto.STRING:
        proto.string_data.extend(t.StringData(i) for i in range(t.StringDataLength()))
    elif not t.RawDataIsNone():
        proto.raw_data = t.RawDataAsNumpy().tobytes()
    return proto


class _Converter:
    def __init__(self) -> None:
        self.fbs = _bindings()
        types = self.fbs.AttributeType.AttributeType
        self.attribute_readers: dict[int, Callable[[Any], Any]] = {
            types.FLOAT: lambda a: a.F(),
            types.INT: lambda a: a.I(),
            types.STRING: lambda a: a.S(),
            types.TENSOR: lambda a: _tensor(a.T()),
            types.GRAPH: lambda a: self.graph(a.G()),
            types.FLOATS: lambda a: [float(x) for x in a.FloatsAsNumpy()],
            types.INTS: lambda a: [int(x) for x in a.IntsAsNumpy()],
            types.STRINGS: lambda a: [a.Strings(i) for i in range(a.StringsLength())],
        }

    def value_info(self, arg: Any) -> onnx.ValueInfoProto:
        name = _text(arg.Name())
        type_info = arg.Type()
        value = type_info.Value() if type_info is not None else None
        if value is None:
            return onnx.ValueInfoProto(name=name)
        tensor_type = self.fbs.TensorTypeAndShape.TensorTypeAndShape()
        tensor_type.Init(value.Bytes, value.Pos)
        shape: list[int | str | None] | None = None
        if (dims := tensor_type.Shape()) is not None:
            shape = []
            for i in range(dims.DimLength()):
                dim = dims.Dim(i).Value()
                if dim is None:
                    shape.append(None)
                elif dim.DimType() == self.fbs.DimensionValueType.DimensionValueType.VALUE:
                    shape.append(int(dim.DimValue()))
                else:
                    shape.append(_text(dim.DimParam()) or None)
        return helper.make_tensor_value_info(name, tensor_type.ElemType(), shape)

    def graph(self, g: Any) -> onnx.GraphProto:
        args = {_text(g.NodeArgs(i).Name()): g.NodeArgs(i) for i in range(g.NodeArgsLength())}
        nodes = []
        for i in range(g.NodesLength()):
            n = g.Nodes(i)
            node = helper.make_node(
                _text(n.OpType()),
                [_text(n.Inputs(j)) for j in range(n.InputsLength())],
                [_text(n.Outputs(j)) for j in range(n.OutputsLength())],
                name=_text(n.Name()),
                domain=_text(n.Domain()) or None,
            )
            for j in range(n.AttributesLength()):
                a = n.Attributes(j)
                node.attribute.append(
                    helper.make_attribute(_text(a.Name()), self.attribute_readers[a.Type()](a))
                )
            nodes.append(node)
        initializers = [_tensor(g.Initializers(i)) for i in range(g.InitializersLength())]
        constant = {t.name for t in initializers}
        inputs = [_text(g.Inputs(i)) for i in range(g.InputsLength())]
        return helper.make_graph(
            nodes,
            "graph",
            [self.value_info(args[name]) for name in inputs if name not in constant],
            [self.value_info(args[_text(g.Outputs(i))]) for i in range(g.OutputsLength())],
            initializers,
        )


def convert(path: Path) -> onnx.ModelProto:
    converter = _Converter()
    session = converter.fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(path.read_bytes(), 0)
    model = session.Model()
    opsets = [
        helper.make_opsetid(_text(model.OpsetImport(i).Domain()), model.OpsetImport(i).Version())
        for i in range(model.OpsetImportLength())
    ]
    result = helper.make_model(
        converter.graph(model.Graph()), opset_imports=opsets, producer_name="meetmesh.modelbuild"
    )
    result.ir_version = model.IrVersion()
    return result
