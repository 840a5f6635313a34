"""Voice activity: silero-vad (ONNX) over 32 ms windows; the caller carries the recurrent state.

Inputs: `audio` FP32 [n * 512] at 16 kHz, `state` FP32 [2, 1, 128], `context` FP32 [64] (the last
64 samples before `audio`). Outputs: `probabilities` FP32 [n], `state_out`, `context_out`.
"""

import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime

_WINDOW, _CONTEXT = 512, 64


class TritonPythonModel:
    def initialize(self, args):
        self.session = onnx_runtime.session(args, os.path.join(os.path.dirname(__file__), "silero_vad.onnx"))
        self.sr = np.array(16000, dtype=np.int64)

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = pb_utils.get_input_tensor_by_name(request, "audio").as_numpy().astype(np.float32)
            state = pb_utils.get_input_tensor_by_name(request, "state").as_numpy().astype(np.float32)
            context = pb_utils.get_input_tensor_by_name(request, "context").as_numpy().astype(np.float32)
            if audio.size % _WINDOW or context.size != _CONTEXT or state.shape != (2, 1, 128):
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            "audio must be a multiple of 512 samples, context 64 samples, state [2,1,128]"
                        )
                    )
                )
                continue
            probabilities = np.empty(audio.size // _WINDOW, dtype=np.float32)
            for i in range(probabilities.size):
                window = audio[i * _WINDOW : (i + 1) * _WINDOW]
                x = np.concatenate([context, window])[None, :]
                out, state = self.session.run(None, {"input": x, "state": state, "sr": self.sr})
                probabilities[i] = out[0, 0]
                context = window[-_CONTEXT:]
            responses.append(
                pb_utils.InferenceResponse(
                    [
                        pb_utils.Tensor("probabilities", probabilities),
                        pb_utils.Tensor("state_out", state.astype(np.float32)),
                        pb_utils.Tensor("context_out", np.ascontiguousarray(context, dtype=np.float32)),
                    ]
                )
            )
        return responses
