"""Speech recognition: Moonshine base-en (see moonshine.py) on ONNX Runtime.

Input `audio` FP32 [n] at 16 kHz (0.1 s to 30 s) and, optionally, `draft` INT64 [k]: the `tokens`
of an earlier decode of the start of the same audio, checked in one decoder pass (moonshine.py; the
result does not depend on it). Outputs `text` BYTES [1] (UTF-8) and `tokens` INT64 [m]. The weights
are moonshine_cpp's, rewritten from ORT format to ONNX and quantised by the model build.
"""

import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime
from moonshine import Moonshine, vocabulary

_MIN, _MAX = 1600, 30 * 16000


class TritonPythonModel:
    def initialize(self, args):
        here = os.path.dirname(__file__)
        # The encoder runs once per request on a whole utterance: its products are large enough to
        # split across `encoder_threads`. A decoder step's are one row each: more threads cost more
        # than they save there (measured, docs/ai.md), so the decoder runs on `intra_op_threads`.
        encoder_threads = int(onnx_runtime.parameter(args, "encoder_threads", "0")) or None
        self.model = Moonshine(
            onnx_runtime.session(args, os.path.join(here, "encoder_model.onnx"), encoder_threads),
            onnx_runtime.session(args, os.path.join(here, "decoder_model_merged.onnx")),
            vocabulary(os.path.join(here, "tokenizer.bin")),
        )

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = np.ascontiguousarray(
                pb_utils.get_input_tensor_by_name(request, "audio").as_numpy().reshape(-1), dtype=np.float32
            )
            if not _MIN <= audio.size <= _MAX:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError("audio must be 0.1 s to 30 s at 16 kHz")
                    )
                )
                continue
            draft = pb_utils.get_input_tensor_by_name(request, "draft")
            tokens = self.model.decode(audio, () if draft is None else draft.as_numpy().reshape(-1).tolist())
            text = self.model.text(tokens)
            responses.append(
                pb_utils.InferenceResponse(
                    [
                        pb_utils.Tensor("text", np.array([text.encode()], dtype=np.object_)),
                        pb_utils.Tensor("tokens", np.array(tokens, dtype=np.int64)),
                    ]
                )
            )
        return responses
