"""Moonshine base-en on ONNX Runtime: encoder, then greedy decoding with the merged decoder's KV cache.

No Triton dependency: the asr model's `model.py` serves it, and `make bench` runs the very same file
in-process as the baseline. At most 6.5 tokens per second of audio (Moonshine's own bound).

A draft (the tokens of an earlier, shorter decode of the same utterance: the live pipeline's last
interim) is checked in ONE decoder pass instead of one pass per token: the first step feeds the
start token and the whole draft, the longest prefix of the draft that greedy decoding would have
produced is kept (with its part of the KV cache), and decoding goes on from there. The result is
the greedy result, whatever the draft; a good draft saves most of the decoder's steps.
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

    def transcribe(self, audio, draft=()):
        return self.text(self.decode(audio, draft))

    def text(self, tokens):
        pieces = b"".join(self.tokens[t] for t in tokens if t < len(self.tokens))
        return pieces.decode("utf-8", errors="replace").replace(_SPACE, " ").strip()

    def decode(self, audio, draft=()):
        """Token ids of `audio` (greedy), checking `draft` first."""
        hidden = self.encoder.run(None, {"input_values": audio[None, :]})[0]
        cache = {name: np.zeros((1, 8, 0, 52), dtype=np.float32) for name in self.cache_inputs}
        limit = math.ceil(audio.size / 16000 * 6.5)
        draft = [int(t) for t in draft if 2 < int(t) < len(self.tokens)][: max(limit - 1, 0)]
        ids, out, step = [_START, *draft], [], 0
        while len(out) < limit:
            results = self.decoder.run(
                None,
                {
                    "input_ids": np.array([ids], dtype=np.int64),
                    "encoder_hidden_states": hidden,
                    "use_cache_branch": np.array([step > 0]),
                    **cache,
                },
            )
            keep = None
            if len(ids) > 1:  # the draft: keep what greedy decoding agrees with
                predicted = results[0][0].argmax(-1)
                agreed = 0
                while agreed < len(draft) and predicted[agreed] == draft[agreed]:
                    agreed += 1
                out.extend(draft[:agreed])
                token, keep = int(predicted[agreed]), agreed + 1
            else:
                token = int(results[0][0, -1].argmax())
            for name, value in zip(self.outputs[1:], results[1:], strict=True):
                if ".decoder." in name:
                    cache[name.replace("present", "past_key_values")] = value[:, :, :keep]
                elif step == 0:  # the encoder's keys and values never change
                    cache[name.replace("present", "past_key_values")] = value
            step += 1
            if token == _END or len(out) >= limit:
                break
            out.append(token)
            ids = [token]
        return out
