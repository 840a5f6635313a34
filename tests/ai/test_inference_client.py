"""The ai service's inference calls (the kit's HTTP/2 client with Triton's protobuf messages) on the
real bundled Triton: every failure is the kit's error with the right status, and a client that
has failed goes on serving once the cause is gone."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
from grpclib.const import Status

from services.ai import metrics
from services.ai.inference import STREAM_MAX_BYTES, InferenceClient
from services.kit import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from tests.ai.conftest import BundledTriton
from tests.ai.speech import flite
from tests.support import wait_until


async def test_typed_calls_give_what_the_model_gives(triton: BundledTriton) -> None:
    client = InferenceClient(triton.url, timeout_s=30)
    try:
        faces = np.random.default_rng(4).integers(0, 256, (3, 64, 64, 1), dtype=np.uint8)
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
    face = np.zeros((1, 64, 64, 1), dtype=np.uint8)
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
        with pytest.raises(InvalidArgument):  # floats where the model takes pixels
            await client.infer("emotion", {"face": face.astype(np.float32)}, ("probabilities",))
        with pytest.raises(TypeError, match="uint8"):  # caught before it leaves the client
            await client.emotions(face.astype(np.float32))
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
    face = np.zeros((1, 64, 64, 1), dtype=np.uint8)
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


async def test_calls_share_one_stream_and_each_gets_its_own_reply(triton: BundledTriton) -> None:
    """Concurrent requests go out on the one ModelStreamInfer call and each caller gets the reply to
    its own request (tagged by id), the same as a unary call gives; a request larger than
    STREAM_MAX_BYTES takes a unary call of its own."""
    client = InferenceClient(triton.url, timeout_s=30)
    plain = InferenceClient(triton.url, timeout_s=30)
    plain.streaming = False
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 256, (1 + i % 5, 64, 64, 1), dtype=np.uint8) for i in range(24)]
    try:
        streamed = await asyncio.gather(*(client.emotions(faces) for faces in batches))
        assert client.calls == {"stream": 24, "unary": 0}
        opened = client._stream._stream
        assert opened is not None
        for faces, got in zip(batches, streamed, strict=True):
            np.testing.assert_allclose(got, await plain.emotions(faces), rtol=1e-5, atol=1e-6)
        assert plain.calls == {"stream": 0, "unary": 24}
        # The model's largest batch: 256 KiB of pixels, plus the request's other fields.
        many = rng.integers(0, 256, (64, 64, 64, 1), dtype=np.uint8)
        assert many.nbytes >= STREAM_MAX_BYTES
        assert (await client.emotions(many)).shape == (len(many), 7)
        assert client.calls == {"stream": 24, "unary": 1}
        assert client._stream._stream is opened  # still the first stream
    finally:
        await client.close()
        await plain.close()


async def test_errors_on_the_stream_keep_their_status_and_the_stream(triton: BundledTriton) -> None:
    """Triton's stream reports an error as text only: the request is asked again over a unary call,
    which gives it its status code, and the stream goes on serving."""
    client = InferenceClient(triton.url, timeout_s=30)
    face = np.zeros((1, 64, 64, 1), dtype=np.uint8)
    try:
        assert (await client.emotions(face)).shape == (1, 7)
        opened = client._stream._stream
        with pytest.raises(NotFound):
            await client.emotions(face, model="nosuchmodel")
        with pytest.raises(InvalidArgument):
            await client.infer("emotion", {"face": face.astype(np.float64)}, ("probabilities",))
        with pytest.raises(InvalidArgument) as refused:  # the model's own check
            await client.faces(np.zeros((10, 10, 3), np.uint8))
        assert "at least 24 pixels" in refused.value.violations[0][1]
        assert (await client.emotions(face)).shape == (1, 7)
        assert client._stream._stream is opened and client.calls == {"stream": 2, "unary": 0}
    finally:
        await client.close()


async def test_a_lost_stream_asks_again_and_a_new_one_opens(triton: BundledTriton) -> None:
    """The connection drops with requests waiting on the stream: each is asked again over a unary
    call on a new connection and answered; the next request opens a new stream."""
    client = InferenceClient(triton.url, timeout_s=30)
    rng = np.random.default_rng(8)
    batches = [rng.integers(0, 256, (8, 64, 64, 1), dtype=np.uint8) for _ in range(6)]
    try:
        expected = [await client.emotions(faces) for faces in batches]
        first = client._stream._connection
        assert first is not None and first.transport is not None
        calls = [asyncio.ensure_future(client.emotions(faces)) for faces in batches]

        async def all_out() -> bool:  # every request is out on the stream
            return len(client._stream._pending) == len(batches)

        await wait_until(all_out, every_s=0)
        first.transport.abort()
        answers = await asyncio.gather(*calls)
        for got, want in zip(answers, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert client.calls["unary"] >= 1  # at least the requests still waiting were asked again
        assert (await client.emotions(batches[0])).shape == (8, 7)
        assert client._stream._connection is not first and client._stream._stream is not None
    finally:
        await client.close()


async def test_a_connection_told_to_go_away_finishes_its_stream(triton: BundledTriton) -> None:
    """Once the connection is told to go away (GOAWAY), the next request half-closes the old stream,
    which Triton then ends with OK, and goes out on a new stream on a new connection."""
    client = InferenceClient(triton.url, timeout_s=30)
    face = np.zeros((2, 64, 64, 1), dtype=np.uint8)
    try:
        await client.emotions(face)
        old_connection, old_stream = client._stream._connection, client._stream._stream
        assert old_connection is not None and old_stream is not None
        old_connection.closed = True  # what receiving a GOAWAY does
        assert (await client.emotions(face)).shape == (2, 7)
        assert client._stream._connection is not old_connection

        async def ended() -> bool:
            return client._stream.ended is not None

        await wait_until(ended)
        assert client._stream.ended is not None and client._stream.ended.code is Status.OK
        assert client.calls == {"stream": 2, "unary": 0}
    finally:
        await client.close()


async def test_a_passed_deadline_on_the_stream_is_unavailable(triton: BundledTriton) -> None:
    client = InferenceClient(triton.url, timeout_s=30)
    audio = flite("a short sentence")
    assert audio.nbytes < STREAM_MAX_BYTES  # it goes over the stream
    try:
        assert "sentence" in (await client.transcribe(audio)).lower()
        opened = client._stream._stream
        client.timeout_s = 0.002  # no transcription is this quick
        with pytest.raises(Unavailable):
            await client.transcribe(audio)
        client.timeout_s = 30  # the late reply is dropped; the same stream serves the next call
        assert "sentence" in (await client.transcribe(audio)).lower()
        assert client._stream._stream is opened and client.calls == {"stream": 2, "unary": 0}
    finally:
        await client.close()


async def test_a_message_cut_short_resets_the_stream(triton: BundledTriton) -> None:
    """A deadline that passes while a message waits for flow-control window leaves part of it
    sent: nothing can follow it on that stream, so the stream is reset and the next request goes
    out on a new one."""
    client = InferenceClient(triton.url, timeout_s=30)
    faces = np.random.default_rng(9).integers(0, 256, (8, 64, 64, 1), dtype=np.uint8)
    try:
        expected = await client.emotions(faces)
        stream, connection = client._stream._stream, client._stream._connection
        assert stream is not None and connection is not None
        # Room for 1000 bytes on the stream, and no more given (its WINDOW_UPDATEs go unseen): the
        # message stops part-way, as behind a server slow to read.
        stream.send_window = 1000
        seen = connection._window_update
        connection._window_update = lambda stream_id, n: (
            None if stream_id == stream.id else seen(stream_id, n)
        )  # type: ignore[method-assign]
        client.timeout_s = 0.2
        with pytest.raises(Unavailable):
            await client.emotions(faces)
        assert stream.done
        client.timeout_s = 10
        np.testing.assert_allclose(await client.emotions(faces), expected, rtol=1e-5, atol=1e-6)
        assert client._stream._stream is not stream and client.calls == {"stream": 2, "unary": 0}
    finally:
        await client.close()


async def test_a_closed_client_answers_unavailable_and_opens_nothing(triton: BundledTriton) -> None:
    """Closing the client ends its stream: a request waiting on it, and any request after, is
    UNAVAILABLE, and no connection is opened again."""
    client = InferenceClient(triton.url, timeout_s=30)
    faces = np.random.default_rng(10).integers(0, 256, (8, 64, 64, 1), dtype=np.uint8)
    await client.emotions(faces)
    waiting = asyncio.ensure_future(client.transcribe(flite("a sentence for the model to read")))

    async def out() -> bool:
        return len(client._stream._pending) == 1

    await wait_until(out, every_s=0)
    await client.close()
    with pytest.raises(Unavailable, match="closed"):
        await waiting
    with pytest.raises(Unavailable, match="closed"):
        await client.emotions(faces)
    assert all(slot is None for slot in client._calls._slots)  # nothing reopened


async def test_repository_calls_share_the_connection_and_map_their_errors(triton: BundledTriton) -> None:
    """Readiness, index, config, statistics, load and unload are unary calls on the client's one
    connection (no second gRPC client): their replies as Triton's JSON gives them, their errors as
    the kit's."""
    client = InferenceClient(triton.url, timeout_s=30)
    try:
        assert await client.ready()
        names = {entry["name"] for entry in await client.repository_index()}
        assert {"emotion", "face_detector", "asr"} <= names
        config = await client.model_config("emotion")
        assert config["name"] == "emotion" and config["max_batch_size"] > 0
        await client.emotions(np.zeros((2, 64, 64, 1), dtype=np.uint8))
        (stats,) = [s for s in await client.statistics("emotion") if s["version"] == "1"]
        assert int(stats["inference_count"]) >= 2 and int(stats["inference_stats"]["success"]["count"]) >= 1
        with pytest.raises(NotFound, match="nosuchmodel"):
            await client.model_config("nosuchmodel")
        with pytest.raises(NotFound):
            await client.statistics("nosuchmodel")
        with pytest.raises(FailedPrecondition, match="failed to load"):
            await client.load("nosuchmodel")
        await client.load("emotion", config)  # the same config again: still served
        assert (await client.emotions(np.zeros((1, 64, 64, 1), dtype=np.uint8))).shape == (1, 7)
        assert client._calls._slots.count(None) == len(client._calls._slots) - 1  # one connection
    finally:
        await client.close()
    with pytest.raises(Unavailable, match="closed"):
        await client.repository_index()
    assert not await client.ready()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = InferenceClient(f"127.0.0.1:{port}", timeout_s=5)
    try:
        assert not await nobody.ready()
        for call in (nobody.repository_index(), nobody.model_config("emotion"), nobody.load("emotion")):
            with pytest.raises(Unavailable):
                await call
    finally:
        await nobody.close()
