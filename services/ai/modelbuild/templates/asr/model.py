"""Speech recognition: Moonshine base-en (encoder + merged decoder with KV cache) on ONNX Runtime.

Input `audio` FP32 [n] at 16 kHz (0.1 s to 30 s); output `text` BYTES [1] (UTF-8). The weights are
moonshine_cpp's, rewritten from ORT format to ONNX by the model build; greedy decoding, at most
6.5 tokens per second of audio (Moonshine's own bound).
"""

import math
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime

_MIN, _MAX = 1600, 30 * 16000
_START, _END = 1, 2
_SPACE = "\u2581"


def _vocabulary(path):
    """moonshine_cpp's tokenizer.bin: one entry per token id, a length (1-2 bytes) then the bytes."""
    with open(path, "rb") as f:
        raw = f.read()
    tokens, i = [], 0
    while i < len(raw):
        size = raw[i]
        i += 1
        if size >= 128:
            size = (size & 0x7F) | (raw[i] << 7)
            i += 1
        tokens.append(raw[i : i + size])
        i += size
    return tokens


class TritonPythonModel:
    def initialize(self, args):
        here = os.path.dirname(__file__)
        self.encoder = onnx_runtime.session(args, os.path.join(here, "encoder_model.onnx"))
        self.decoder = onnx_runtime.session(args, os.path.join(here, "decoder_model_merged.onnx"))
        self.cache_inputs = [
            i.name for i in self.decoder.get_inputs() if i.name.startswith("past_key_values")
        ]
        self.outputs = [o.name for o in self.decoder.get_outputs()]
        self.vocabulary = _vocabulary(os.path.join(here, "tokenizer.bin"))

    def _transcribe(self, audio):
        hidden = self.encoder.run(None, {"input_values": audio[None, :]})[0]
        cache = {name: np.zeros((1, 8, 0, 52), dtype=np.float32) for name in self.cache_inputs}
        token, text = _START, []
        for step in range(math.ceil(audio.size / 16000 * 6.5)):
            results = self.decoder.run(
                None,
                {
                    "input_ids": np.array([[token]], dtype=np.int64),
                    "encoder_hidden_states": hidden,
                    "use_cache_branch": np.array([step > 0]),
                    **cache,
                },
            )
            for name, value in zip(self.outputs[1:], results[1:], strict=True):
                if step == 0 or ".decoder." in name:  # the encoder's keys and values never change
                    cache[name.replace("present", "past_key_values")] = value
            token = int(results[0][0, -1].argmax())
            if token == _END:
                break
            text.append(token)
        pieces = b"".join(self.vocabulary[t] for t in text if t < len(self.vocabulary))
        return pieces.decode("utf-8", errors="replace").replace(_SPACE, " ").strip()

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
            text = self._transcribe(audio)
            responses.append(
                pb_utils.InferenceResponse(
                    [pb_utils.Tensor("text", np.array([text.encode()], dtype=np.object_))]
                )
            )
        return responses
