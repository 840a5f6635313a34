"""Meeting transcripts: stored by live streams (in MongoDB: FerretDB), visible exactly like their
meeting, exported as text and WebVTT; plus the pure pieces (segmentation, resampling, export
formats)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from scipy.signal import resample_poly

from meetmesh.ai.v1 import ai_grpc, ai_pb2
from services.ai.audio import StreamResampler
from services.ai.models import Segment
from services.ai.segmentation import WINDOW, Segmenter, SpeechEnded, SpeechStarted
from services.ai.transcript import to_text, to_webvtt
from services.kit import channel
from tests.ai.conftest import AiPlatform
from tests.ai.speech import FLITE_SENTENCES, ROOT, flite
from tests.ai.test_captions import stream_audio, with_pauses
from tests.support import Platform


async def test_transcript_follows_meeting_visibility_and_exports(meeting_platform: Platform) -> None:
    host = await meeting_platform.client("Host")
    stranger = await meeting_platform.client("Stranger")
    meeting = await host.create_meeting(settings={"ai_enabled": True})
    joined = await host.join(meeting.name)
    ai_host = meeting_platform.hosts["ai"]
    as_media = channel(f"127.0.0.1:{ai_host.grpc_port}", meeting_platform.runtime.identity("media"))
    ai = AiPlatform(ai_host, meeting_platform.runtime, meeting_platform.channel("ai"), as_media)
    sentences = FLITE_SENTENCES[:2]
    try:
        await stream_audio(ai, with_pauses([flite(s) for s in sentences]), joined.participant.name)
    finally:
        as_media.close()
    stub = ai_grpc.AnalysisServiceStub(meeting_platform.channel("ai"))

    listed = await stub.ListTranscriptSegments(
        ai_pb2.ListTranscriptSegmentsRequest(parent=meeting.name, page_size=1), metadata=host.metadata
    )
    assert len(listed.transcript_segments) == 1
    assert listed.transcript_segments[0].speaker == joined.participant.name
    second = await stub.ListTranscriptSegments(
        ai_pb2.ListTranscriptSegmentsRequest(
            parent=meeting.name, page_size=1, page_token=listed.next_page_token
        ),
        metadata=host.metadata,
    )
    assert len(second.transcript_segments) == 1
    assert second.next_page_token == ""

    vtt = await stub.ExportTranscript(
        ai_pb2.ExportTranscriptRequest(
            name=f"{meeting.name}/transcript", format=ai_pb2.TRANSCRIPT_FORMAT_WEBVTT
        ),
        metadata=host.metadata,
    )
    assert vtt.content_type == "text/vtt"
    assert vtt.content.startswith("WEBVTT\n\n1\n00:00:00.000 --> ")
    assert vtt.content.count(" --> ") == 2
    text = await stub.ExportTranscript(
        ai_pb2.ExportTranscriptRequest(name=f"{meeting.name}/transcript"), metadata=host.metadata
    )
    assert text.content_type == "text/plain"
    assert len(text.content.splitlines()) == 2

    # Each utterance also counts as speaking time in the meeting's analytics.
    activities = await stub.ListMeetingActivities(
        ai_pb2.ListMeetingActivitiesRequest(parent=meeting.name), metadata=host.metadata
    )
    spoke = [a for a in activities.meeting_activities if a.kind == ai_pb2.MeetingActivity.KIND_SPOKE]
    assert len(spoke) >= 2
    assert {a.participant for a in spoke} == {joined.participant.name}
    assert all(a.duration.ToMilliseconds() > 300 for a in spoke)
    insights = await stub.GetMeetingInsights(
        ai_pb2.GetMeetingInsightsRequest(name=f"{meeting.name}/insights"), metadata=host.metadata
    )
    speaker = insights.insights.participants[0]
    assert speaker.participant == joined.participant.name
    assert speaker.speaking_time.ToMilliseconds() == sum(a.duration.ToMilliseconds() for a in spoke)

    with pytest.raises(GRPCError) as caught:
        await stub.ListTranscriptSegments(
            ai_pb2.ListTranscriptSegmentsRequest(parent=meeting.name), metadata=stranger.metadata
        )
    assert caught.value.status == Status.NOT_FOUND
    with pytest.raises(GRPCError) as caught:
        await stub.ListTranscriptSegments(
            ai_pb2.ListTranscriptSegmentsRequest(parent=meeting.name, page_token="garbage"),
            metadata=host.metadata,
        )
    assert caught.value.status == Status.INVALID_ARGUMENT


def _segment(offset_s: float, duration_ms: int, text: str) -> Segment:
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    return Segment(
        uuid.uuid4().hex, "m", "p1", origin + timedelta(seconds=offset_s), 0, duration_ms, text, 0.1
    )


def test_export_formats() -> None:
    segments = [_segment(0, 1500, "hello <world>"), _segment(62.25, 2000, "a --> b & c")]
    assert to_text(segments) == "[00:00:00] p1: hello <world>\n[00:01:02] p1: a --> b & c\n"
    assert to_webvtt(segments) == (
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\n<v p1>hello &lt;world&gt;\n\n"
        "2\n00:01:02.250 --> 00:01:04.250\n<v p1>a --&gt; b &amp; c\n"
    )
    assert to_webvtt([]) == "WEBVTT\n"


def test_segmenter_finds_utterances_and_ignores_blips() -> None:
    s = Segmenter()
    probabilities = [0.0] * 10 + [0.9] * 30 + [0.1] * 20 + [0.9] * 2 + [0.0] * 20
    events = [e for p in probabilities if (e := s.push(p)) is not None]
    assert isinstance(events[0], SpeechStarted)
    assert isinstance(events[1], SpeechEnded)
    assert events[1].end > 40 * WINDOW  # silence must last 300 ms before the end is declared
    assert len([e for e in events if isinstance(e, SpeechEnded)]) == 1  # the 64 ms blip is dropped
    assert s.flush() is None


@pytest.mark.parametrize("rate", [8000, 24000, 44100, 48000])
def test_stream_resampler_matches_whole_signal_resampling(rate: int) -> None:
    x = np.random.default_rng(0).normal(size=rate * 2).astype(np.float32) * 0.1
    r = StreamResampler(rate)
    out = np.concatenate([r.push(x[i : i + rate // 10]) for i in range(0, x.size, rate // 10)] + [r.flush()])
    reference = resample_poly(x, r.up, r.down)
    assert out.size == reference.size
    assert np.allclose(out, reference, atol=1e-5)


async def test_offline_analysis_and_transcripts_through_the_edge(meeting_platform: Platform) -> None:
    """The public API over JSON through the built-in edge (real HTTP, real JWT check)."""
    import base64

    import cv2
    import httpx
    import skimage.data

    from services.edge.app import Edge
    from tests.edge.conftest import edge_settings
    from tests.edge.harness import start_uvicorn, stop_uvicorn

    descriptors = ROOT / "gen" / "meetmesh.binpb"
    edge = Edge(edge_settings(meeting_platform, descriptors, max_request_bytes=4 * 1024 * 1024))
    server, port = await start_uvicorn(edge)
    try:
        host = await meeting_platform.client("Host")
        ok, png = cv2.imencode(".png", cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
        assert ok
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            reply = await http.post(
                "/v1/images:analyze",
                headers=host.metadata,
                json={"image": base64.b64encode(png.tobytes()).decode()},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["faces"][0]["emotion"] == "EMOTION_HAPPY"
            corrupt = await http.post(
                "/v1/images:analyze",
                headers=host.metadata,
                json={"image": base64.b64encode(b"not an image").decode()},
            )
            assert corrupt.status_code == 400
            anonymous = await http.post("/v1/images:analyze", json={"image": "AAAA"})
            assert anonymous.status_code == 401
            meeting = await host.create_meeting()
            listed = await http.get(f"/v1/{meeting.name}/transcriptSegments", headers=host.metadata)
            assert listed.status_code == 200, listed.text
            assert listed.json().get("transcriptSegments", []) == []
    finally:
        await stop_uvicorn(server)
