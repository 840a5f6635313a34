"""Speech recognition: Moonshine base-en through moonshine_cpp's libmoonshine (ONNX Runtime inside).

Input `audio` FP32 [n] at 16 kHz (0.1 s to 30 s); output `text` BYTES [1] (UTF-8).
libmoonshine is called through ctypes directly: moonshine_cpp 0.1.4's own `transcribe` wrapper uses
a ctypes type that does not exist.
"""

import ctypes
import os

import moonshine_cpp.moonshine_cpp as mc
import numpy as np
import triton_python_backend_utils as pb_utils

_MIN, _MAX = 1600, 30 * 16000


class TritonPythonModel:
    def initialize(self, args):
        here = os.path.dirname(__file__)
        self.handle = mc.moonshine_lib.moonshine_load_model(
            os.path.join(here, "encoder_model.ort").encode(),
            os.path.join(here, "decoder_model_merged.ort").encode(),
            os.path.join(here, "tokenizer.bin").encode(),
            mc.MOONSHINE_MODEL_TYPE_BASE,
        )
        if self.handle < 0:
            raise RuntimeError("moonshine model failed to load")

    def _transcribe(self, audio):
        text = ctypes.c_char_p(0)
        pointer = audio.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        if mc.moonshine_lib.moonshine_transcribe(self.handle, pointer, audio.size, ctypes.byref(text)):
            raise RuntimeError("moonshine transcription failed")
        value = text.value or b""
        return value.decode("utf-8", errors="replace")

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
            text = self._transcribe(audio).strip()
            responses.append(
                pb_utils.InferenceResponse(
                    [pb_utils.Tensor("text", np.array([text.encode()], dtype=np.object_))]
                )
            )
        return responses

    def finalize(self):
        mc.moonshine_lib.moonshine_free_model(self.handle)
