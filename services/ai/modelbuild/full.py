"""The model repository for a full Triton build (a GPU deployment), derived from the built one.

The bundled Triton (pytriton's wheel) has the python backend only, so the repository ``make
models`` builds runs every model as python code calling ONNX Runtime on the CPU. A full Triton
build (NGC's ``tritonserver`` images) also has the ONNX Runtime backend, which runs an ONNX model
with no Python in the request path and with CUDA or TensorRT execution providers. This module
writes that second configuration from the first, with the same model names and tensor names, so the
ai service uses it unchanged (``MEETMESH_AI__MODEL_REPOSITORY``, or an external Triton):

========================  =============================================================
model                     full-build configuration
========================  =============================================================
emotion                   ``onnxruntime`` backend on the GPU, TensorRT (FP16) then CUDA,
                          dynamic batching; the ONNX graph's input is renamed ``face``
asr, vad, synthetic_voice python backend (they keep state or pre/post-processing in
                          Python) with ``execution_provider`` TENSORRT: their ONNX Runtime
                          sessions take TensorRT, then CUDA, then the CPU; asr's encoder
                          and decoder in float32 (the CPU build's are int8)
face_detector             unchanged: OpenCV's Haar cascade runs on the CPU only
========================  =============================================================

Nothing here runs on this machine (no GPU, no full Triton); the tests check the files and run the
renamed ONNX model with ONNX Runtime on the CPU against the python-backend model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx

from services.ai.modelbuild import repository

FLAVOUR = "full"

EMOTION_CONFIG = """name: "emotion"
backend: "onnxruntime"
max_batch_size: 64
input [ { name: "face" data_type: TYPE_UINT8 dims: [ 64, 64, 1 ] } ]
output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 7 ] } ]
instance_group [ { count: 1 kind: KIND_GPU } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
optimization {
  execution_accelerators {
    gpu_execution_accelerator: [
      { name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } }
    ]
  }
}
"""

# Python-backend models whose ONNX Runtime sessions follow `execution_provider` (onnx_runtime.py).
ACCELERATED_PYTHON = ("asr", "vad", "synthetic_voice")


def _renamed_emotion(source: Path, target: Path) -> None:
    """The FER graph with its input named as the contract's tensor (``face``)."""
    model = onnx.load(str(source))
    old = model.graph.input[0].name
    model.graph.input[0].name = "face"
    for node in model.graph.node:
        node.input[:] = ["face" if name == old else name for name in node.input]
    if model.graph.output[0].name != "probabilities":
        raise ValueError(f"unexpected emotion output {model.graph.output[0].name!r}")
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def _accelerated(config: str) -> str:
    """A python-backend config asking for TensorRT (then CUDA, then CPU) on a GPU instance."""
    lines = []
    for line in config.splitlines():
        if line.startswith("instance_group"):
            line = "instance_group [ { count: 1 kind: KIND_GPU } ]"
        elif "execution_provider" in line:
            line = 'parameters { key: "execution_provider" value { string_value: "TENSORRT" } }'
        lines.append(line)
    return "\n".join(lines) + "\n"


def derive(built: Path, out: Path) -> list[str]:
    """Write the full-build repository for ``built`` (a ``make models`` output) into ``out``;
    returns the models it wrote."""
    if not (built / "BUILD.json").is_file():
        raise FileNotFoundError(f"{built} is not a built model repository (no BUILD.json)")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(built, out, ignore=shutil.ignore_patterns("__pycache__"))
    # emotion: the ONNX Runtime backend, the graph alone in the version folder.
    version = out / "emotion" / "1"
    shutil.rmtree(version)
    version.mkdir()
    _renamed_emotion(built / "emotion" / "1" / "model.onnx", version / "model.onnx")
    (out / "emotion" / "config.pbtxt").write_text(EMOTION_CONFIG)
    # asr: float32 matrix products (the CPU build's int8 ones would run on the CPU here).
    repository.speech_models(out / "asr" / "1", int8=False)
    for model in ACCELERATED_PYTHON:
        config = out / model / "config.pbtxt"
        config.write_text(_accelerated(config.read_text()))
    info = json.loads((built / "BUILD.json").read_text())
    info["flavour"] = FLAVOUR
    info["derived_from"] = str(built)
    (out / "BUILD.json").write_text(json.dumps(info, indent=2) + "\n")
    return sorted(p.name for p in out.iterdir() if (p / "config.pbtxt").is_file())
