"""Opens an ONNX Runtime session on the execution provider the model's config asks for.

Copied into each model version by the model build. The `execution_provider` parameter of
config.pbtxt is CPU here; a GPU Triton runs the same repository with CUDA or TensorRT, falling back
to the next provider in the chain when one is missing.
"""

import json

import onnxruntime as ort

_CHAINS = {
    "CPU": ["CPUExecutionProvider"],
    "CUDA": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "TENSORRT": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def parameter(args, key, default):
    params = json.loads(args["model_config"]).get("parameters", {})
    return params.get(key, {}).get("string_value", default)


def session(args, path, threads=None):
    """A session on `path`; `threads` (default: the `intra_op_threads` parameter, 1) run each
    operator. Threads that wait for work sleep instead of spinning when the `intra_op_spinning`
    parameter is "0": on a CPU shared with other processes, spinning threads take the cores the
    others need (measured, docs/ai.md)."""
    wanted = _CHAINS[parameter(args, "execution_provider", "CPU").upper()]
    available = set(ort.get_available_providers())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or int(parameter(args, "intra_op_threads", "1"))
    options.inter_op_num_threads = 1
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", parameter(args, "intra_op_spinning", "1")
    )
    return ort.InferenceSession(path, options, providers=[p for p in wanted if p in available])
