"""The full-Triton (GPU) repository derived from the built one: same models and tensor names, the
emotion model on the ONNX Runtime backend giving what the python-backend model gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from services.ai.inference import InferenceClient
from services.ai.modelbuild import full
from tests.ai.conftest import BundledTriton


async def test_full_repository_keeps_the_contract(
    model_repository: Path, triton: BundledTriton, tmp_path: Path
) -> None:
    out = tmp_path / "full"
    models = full.derive(model_repository, out)
    assert models == ["asr", "emotion", "face_detector", "synthetic_voice", "vad"]
    emotion = (out / "emotion" / "config.pbtxt").read_text()
    assert 'backend: "onnxruntime"' in emotion and 'name: "tensorrt"' in emotion and "KIND_GPU" in emotion
    assert not (out / "emotion" / "1" / "model.py").exists()
    for model in full.ACCELERATED_PYTHON:
        config = (out / model / "config.pbtxt").read_text()
        assert 'string_value: "TENSORRT"' in config and "KIND_GPU" in config and 'backend: "python"' in config
    assert (out / "face_detector" / "config.pbtxt").read_text() == (
        model_repository / "face_detector" / "config.pbtxt"
    ).read_text()
    # The speech model's products: int8 in the CPU build, float32 for the GPU's execution providers.
    for name in ("encoder_model", "decoder_model_merged"):
        assert "DynamicQuantizeMatMul" in _ops(model_repository / "asr" / "1" / f"{name}.onnx")
        assert "DynamicQuantizeMatMul" not in _ops(out / "asr" / "1" / f"{name}.onnx")
        assert "MatMul" in _ops(out / "asr" / "1" / f"{name}.onnx")
    # The renamed graph answers the contract's tensor names with the python-backend model's numbers.
    session = ort.InferenceSession(
        str(out / "emotion" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == ["face"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    faces = np.random.default_rng(5).integers(0, 256, (3, 64, 64, 1), dtype=np.uint8)
    (local,) = session.run(["probabilities"], {"face": faces})
    client = InferenceClient(triton.url, timeout_s=20)
    try:
        served = await client.emotions(faces)
    finally:
        await client.close()
    np.testing.assert_allclose(local, served, rtol=1e-4, atol=1e-5)


def _ops(path: Path) -> set[str]:
    """Every operator type in an ONNX file, its subgraphs (the decoder's If branches) included."""
    found: set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    walk(attribute.g)

    walk(onnx.load(str(path), load_external_data=False).graph)
    return found
