"""Moonshine base-en on ONNX Runtime: encoder, then greedy decoding with the merged decoder's KV cache.

No Triton dependency: the asr model's `model.py` serves it, and `make bench` runs the very same file
in-process as the baseline. At most 6.5 tokens per second of audio (Moonshine's own bound).
"""

import math

import numpy as np

_START, _END = 1, 2
_SPACE = "\u2581"


def vocabulary(path):
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


class Moonshine:
    def __init__(self, encoder, decoder, tokens):
        self.encoder = encoder
        self.decoder = decoder
        self.cache_inputs = [i.name for i in decoder.get_inputs() if i.name.startswith("past_key_values")]
        self.outputs = [o.name for o in decoder.get_outputs()]
        self.tokens = tokens

    def transcribe(self, audio):
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
        pieces = b"".join(self.tokens[t] for t in text if t < len(self.tokens))
        return pieces.decode("utf-8", errors="replace").replace(_SPACE, " ").strip()
