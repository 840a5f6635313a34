"""Emotion on a real photo, model administration (hot swap under load, broken version), bad input,
and recovery after Triton restarts; all against the real bundled Triton."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from numpy.typing import NDArray

from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from meetmesh.ai.v1 import ai_pb2
from services.ai.inference import InferenceClient
from tests.ai.conftest import AiPlatform, BundledTriton
from tests.ai.speech import flite, wav_bytes
from tests.ai.test_captions import linear16, stream_audio, with_pauses
from tests.support import field_violations, wait_until


def png(rgb: NDArray[Any]) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


async def test_astronaut_is_happy(ai: AiPlatform) -> None:
    reply = await ai.analysis.AnalyzeImage(
        ai_pb2.AnalyzeImageRequest(image=png(skimage.data.astronaut())), metadata=ai.token("member")
    )
    assert len(reply.faces) == 1
    assert reply.faces[0].emotion == ai_pb2.EMOTION_HAPPY
    assert reply.faces[0].scores[3] == max(reply.faces[0].scores)
    box = reply.faces[0].box
    assert 150 < box.x + box.width / 2 < 300  # her face
    assert 50 < box.y + box.height / 2 < 200


async def test_frames_in_a_live_stream_give_emotions(ai: AiPlatform) -> None:
    async with ai.streams.Analyze.open() as stream:
        await stream.send_message(
            pb.AnalyzeRequest(
                config=pb.StreamConfig(
                    participant="meetings/v1/participants/p1",
                    sample_rate_hertz=16000,
                    encoding=pb.AUDIO_ENCODING_LINEAR16,
                    emotion=True,
                )
            )
        )
        await stream.send_message(
            pb.AnalyzeRequest(frame=pb.VideoFrame(image=png(skimage.data.astronaut()), offset_ms=40))
        )
        await stream.end()
        events = [e async for e in stream]
    emotions = [e.emotions for e in events if e.HasField("emotions")]
    assert [e.offset_ms for e in emotions] == [40]
    assert emotions[0].faces[0].emotion == ai_pb2.EMOTION_HAPPY


async def _code(call: object) -> tuple[Status, str]:
    with pytest.raises(GRPCError) as caught:
        await call  # type: ignore[misc]
    return caught.value.status, caught.value.message or ""


async def _run_stream(ai: AiPlatform, messages: list[pb.AnalyzeRequest], close: bool = True) -> None:
    async with ai.streams.Analyze.open() as stream:
        for m in messages:
            await stream.send_message(m)
        if close:
            await stream.end()
        async for _ in stream:
            pass


async def _stream_error(ai: AiPlatform, messages: list[pb.AnalyzeRequest]) -> Status:
    with pytest.raises(GRPCError) as caught:
        await _run_stream(ai, messages)
    return caught.value.status


def _config(**fields: object) -> pb.AnalyzeRequest:
    base: dict[str, object] = {
        "participant": "meetings/bad/participants/p1",
        "sample_rate_hertz": 16000,
        "encoding": pb.AUDIO_ENCODING_LINEAR16,
        "captions": True,
    }
    base.update(fields)
    return pb.AnalyzeRequest(config=pb.StreamConfig(**base))  # type: ignore[arg-type]


async def test_bad_stream_input_is_invalid_argument_and_stores_nothing(ai: AiPlatform) -> None:
    speech = linear16(with_pauses([flite("hello there")]))
    bad = [
        [_config(sample_rate_hertz=11025)],  # unsupported rate
        [_config(encoding=pb.AUDIO_ENCODING_UNSPECIFIED)],  # no encoding
        [pb.AnalyzeRequest(audio=pb.AudioChunk(data=b"\x00\x00"))],  # audio before config
        [_config(), _config()],  # a second config
        [_config(), pb.AnalyzeRequest(audio=pb.AudioChunk(data=b"\x00"))],  # odd byte count
        [_config(), pb.AnalyzeRequest(audio=pb.AudioChunk(data=b""))],  # empty chunk
        [_config(), pb.AnalyzeRequest(audio=pb.AudioChunk(data=bytes(200_000)))],  # enormous chunk
        [
            _config(encoding=pb.AUDIO_ENCODING_FLOAT32),
            pb.AnalyzeRequest(audio=pb.AudioChunk(data=np.full(100, 7.0, "<f4").tobytes())),
        ],  # garbage floats
        [
            _config(emotion=True),
            pb.AnalyzeRequest(audio=pb.AudioChunk(data=speech[:32000])),
            pb.AnalyzeRequest(frame=pb.VideoFrame(image=b"not an image at all")),
        ],  # corrupt frame
    ]
    for messages in bad:
        assert await _stream_error(ai, messages) == Status.INVALID_ARGUMENT, messages[-1]
    listed = await ai.analysis.ListTranscriptSegments(
        ai_pb2.ListTranscriptSegmentsRequest(parent="meetings/bad"), metadata=ai.token()
    )
    assert list(listed.transcript_segments) == []
    # the service still serves streams after all that
    events = await stream_audio(
        ai, with_pauses([flite("good morning everyone")]), "meetings/bad/participants/p2"
    )
    assert any(e.HasField("caption") and e.caption.is_final for e in events)


async def test_a_stream_that_never_ends_is_closed(ai: AiPlatform) -> None:
    """The fixture sets a 3 s idle timeout: a silent open stream is ended with INVALID_ARGUMENT."""
    with pytest.raises(GRPCError) as caught:
        await _run_stream(ai, [_config()], close=False)
    assert caught.value.status == Status.INVALID_ARGUMENT
    assert "no message" in field_violations(caught.value)["stream"]


async def test_bad_unary_input(ai: AiPlatform) -> None:
    token = ai.token("member")
    for image in (b"\x89PNG\r\n\x1a\n garbage", b"\xff\xd8\xff" + bytes(100)):
        assert (
            await _code(ai.analysis.AnalyzeImage(ai_pb2.AnalyzeImageRequest(image=image), metadata=token))
        )[0] == Status.INVALID_ARGUMENT
    for audio in (b"RIFF....WAVEfmt garbage", bytes(1000)):
        assert (
            await _code(ai.analysis.AnalyzeAudio(ai_pb2.AnalyzeAudioRequest(audio=audio), metadata=token))
        )[0] == Status.INVALID_ARGUMENT
    status, _ = await _code(ai.analysis.AnalyzeAudio(ai_pb2.AnalyzeAudioRequest(), metadata=token))
    assert status == Status.INVALID_ARGUMENT
    admin = ai.token("admin")
    status, _ = await _code(
        ai.analysis.LoadModelVersion(
            ai_pb2.LoadModelVersionRequest(name="models/nope/versions/1"), metadata=admin
        )
    )
    assert status == Status.NOT_FOUND
    status, _ = await _code(
        ai.analysis.LoadModelVersion(
            ai_pb2.LoadModelVersionRequest(name="models/emotion/versions/99"), metadata=admin
        )
    )
    assert status == Status.NOT_FOUND
    status, _ = await _code(
        ai.analysis.UnloadModelVersion(
            ai_pb2.UnloadModelVersionRequest(name="models/emotion/versions/42"), metadata=admin
        )
    )
    assert status == Status.NOT_FOUND
    status, _ = await _code(ai.analysis.ListModels(ai_pb2.ListModelsRequest(), metadata=token))
    assert status == Status.PERMISSION_DENIED


def _versions(model: ai_pb2.Model) -> dict[str, int]:
    return {v.name.rsplit("/", 1)[1]: v.state for v in model.versions}


async def test_hot_swap_under_load_loses_no_request(
    ai: AiPlatform, triton: BundledTriton, model_repository: Path
) -> None:
    emotion = model_repository / "emotion"
    shutil.copytree(emotion / "1", emotion / "2")
    broken = emotion / "3"
    shutil.copytree(emotion / "1", broken)
    (broken / "model.py").write_text("raise RuntimeError('this version is broken')\n")
    client = InferenceClient(triton.url)
    faces = np.zeros((2, 64, 64, 1), dtype=np.uint8)
    results = {"ok": 0, "failed": 0, "target": 1 << 30}
    stop = asyncio.Event()
    reached = asyncio.Event()

    async def caller() -> None:
        while not stop.is_set():
            try:
                assert (await client.emotions(faces)).shape == (2, 7)
                results["ok"] += 1
                if results["ok"] >= results["target"]:
                    reached.set()
            except Exception:
                results["failed"] += 1

    callers = [asyncio.create_task(caller()) for _ in range(4)]
    try:
        admin = ai.token()
        reply = await ai.analysis.LoadModelVersion(
            ai_pb2.LoadModelVersionRequest(name="models/emotion/versions/2"), metadata=admin
        )
        assert _versions(reply.model)["2"] == ai_pb2.MODEL_VERSION_STATE_READY
        assert _versions(reply.model).get("1") != ai_pb2.MODEL_VERSION_STATE_READY
        results["target"] = results["ok"] + 20  # the old version keeps answering after the failed load
        status, message = await _code(
            ai.analysis.LoadModelVersion(
                ai_pb2.LoadModelVersionRequest(name="models/emotion/versions/3"), metadata=admin
            )
        )
        assert status == Status.FAILED_PRECONDITION, message
        listed = await ai.analysis.ListModels(ai_pb2.ListModelsRequest(), metadata=admin)
        versions = _versions(next(m for m in listed.models if m.name == "models/emotion"))
        assert versions["2"] == ai_pb2.MODEL_VERSION_STATE_READY
        await asyncio.wait_for(reached.wait(), 30)
    finally:
        stop.set()
        await asyncio.gather(*callers)
        await client.close()
        shutil.rmtree(broken)  # as an operator would: a restarted Triton loads the latest version
    assert results["failed"] == 0
    stats = await ai.analysis.GetModelStatistics(
        ai_pb2.GetModelStatisticsRequest(name="models/emotion"), metadata=ai.token()
    )
    v2 = next(v for v in stats.versions if v.name == "models/emotion/versions/2")
    assert v2.success_count > 0


async def test_triton_down_is_unavailable_and_the_service_recovers(
    ai: AiPlatform, triton: BundledTriton
) -> None:
    token = ai.token("member")
    image = ai_pb2.AnalyzeImageRequest(image=png(skimage.data.astronaut()))
    triton.kill()
    try:
        status, _ = await _code(ai.analysis.AnalyzeImage(image, metadata=token))
        assert status == Status.UNAVAILABLE
        status, _ = await _code(
            ai.analysis.AnalyzeAudio(
                ai_pb2.AnalyzeAudioRequest(audio=wav_bytes(flite("hello"))), metadata=token
            )
        )
        assert status == Status.UNAVAILABLE
    finally:
        await asyncio.to_thread(triton.start)
    # Triton is back; the service reconnects (and its models reload) within a bounded time.
    replies: list[ai_pb2.AnalyzeImageResponse] = []

    async def recovered() -> bool:
        try:
            replies.append(await ai.analysis.AnalyzeImage(image, metadata=token))
        except GRPCError as exc:
            if exc.status != Status.UNAVAILABLE:  # only "not yet" is acceptable, never another error
                raise
            return False
        return True

    await wait_until(recovered, within_s=60, every_s=0.25)
    assert replies[-1].faces[0].emotion == ai_pb2.EMOTION_HAPPY
