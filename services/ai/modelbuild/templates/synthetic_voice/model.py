"""Synthetic-speech score of one utterance: spectral statistics + a trained logistic regression.

Input `audio` FP32 [n] at 16 kHz (0.25 s to 30 s); output `score` FP32 [1] in [0, 1].
`voicefeatures.py` is the same file the model build trained with.
"""

import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime
import voicefeatures

_MIN, _MAX = 4000, 30 * 16000


class TritonPythonModel:
    def initialize(self, args):
        self.session = onnx_runtime.session(args, os.path.join(os.path.dirname(__file__), "model.onnx"))

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = pb_utils.get_input_tensor_by_name(request, "audio").as_numpy().reshape(-1)
            if not _MIN <= audio.size <= _MAX:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError("audio must be 0.25 s to 30 s at 16 kHz")
                    )
                )
                continue
            x = voicefeatures.features(audio.astype(np.float32))[None, :]
            score = self.session.run(None, {"features": x})[0].reshape(1).astype(np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("score", score)]))
        return responses
