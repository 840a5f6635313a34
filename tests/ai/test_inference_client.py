"""The ai service's inference calls (the kit's HTTP/2 client with Triton's protobuf messages) on the
real bundled Triton: every failure is the kit's error with the right status, and a client that
has failed goes on serving once the cause is gone."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from services.ai import metrics
from services.ai.inference import InferenceClient
from services.kit import InvalidArgument, NotFound, Unavailable
from tests.ai.conftest import BundledTriton
from tests.ai.speech import flite


async def test_typed_calls_give_what_the_model_gives(triton: BundledTriton) -> None:
    client = InferenceClient(triton.url, timeout_s=30)
    try:
        faces = np.random.default_rng(4).uniform(-1, 1, (3, 64, 64, 1)).astype(np.float32)
        probabilities = await client.emotions(faces)
        assert probabilities.shape == (3, 7) and probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
        # A BYTES output and an INT64 one: the transcript and its tokens.
        text, tokens = await client.transcribe_tokens(flite("the weather is nice today"))
        assert "weather" in text.lower() and tokens.dtype == np.int64 and tokens.size > 3
    finally:
        await client.close()


async def test_unknown_models_versions_and_tensors_are_refused_and_counted(triton: BundledTriton) -> None:
    client = InferenceClient(triton.url, timeout_s=30)
    face = np.zeros((1, 64, 64, 1), dtype=np.float32)
    failures = metrics.INFERENCE_FAILURES.labels("nosuchmodel")
    before = failures._value.get()
    try:
        with pytest.raises(NotFound, match="nosuchmodel"):
            await client.emotions(face, model="nosuchmodel")
        assert failures._value.get() == before + 1
        with pytest.raises(NotFound):
            await client.infer("emotion", {"face": face}, ("probabilities",), version="99")
        with pytest.raises(InvalidArgument):  # a tensor the model does not have
            await client.infer("emotion", {"picture": face}, ("probabilities",))
        with pytest.raises(InvalidArgument):  # the wrong type
            await client.infer("emotion", {"face": face.astype(np.float64)}, ("probabilities",))
        with pytest.raises(InvalidArgument):  # an output the model does not have
            await client.infer("emotion", {"face": face}, ("nosuchoutput",))
        for image in (
            np.zeros((40, 40), np.uint8),
            np.zeros((10, 10, 3), np.uint8),
            np.zeros((40, 40, 4), np.uint8),
        ):
            with pytest.raises(InvalidArgument) as refused:  # Triton's shape check, or the model's own
                await client.faces(image)
            said = refused.value.violations[0][1]
            assert (
                "at least 24 pixels" if image.ndim == 3 and image.shape[2] == 3 else "unexpected shape"
            ) in said
        assert metrics.TRITON_READY._value.get() == 1  # refusals, not an outage
        assert (await client.emotions(face)).shape == (1, 7)  # the connection still serves
    finally:
        await client.close()


async def test_no_server_and_a_passed_deadline_are_unavailable(triton: BundledTriton) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = InferenceClient(f"127.0.0.1:{port}", timeout_s=5)
    face = np.zeros((1, 64, 64, 1), dtype=np.float32)
    try:
        with pytest.raises(Unavailable):
            await nobody.emotions(face)
        assert metrics.TRITON_READY._value.get() == 0
    finally:
        await nobody.close()

    hasty = InferenceClient(triton.url, timeout_s=30)
    audio = flite("a sentence long enough to take the model some time to read it all")
    try:
        assert (await hasty.emotions(face)).shape == (1, 7)  # the connection is open
        hasty.timeout_s = 0.005  # a deadline no transcription meets: the stream is reset
        with pytest.raises(Unavailable):
            await hasty.transcribe(audio)
        hasty.timeout_s = 30  # the same connection serves the next call
        assert "sentence" in (await hasty.transcribe(audio)).lower()
        assert metrics.TRITON_READY._value.get() == 1
    finally:
        await hasty.close()
