"""``meetmesh loadtest`` (short): bots join a room through the meeting service and signaling,
publishers send video, subscribers receive it; the report's numbers are present and plausible."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from meetmesh_sdk.loadtest import LoadTest, LoadTestOptions, parse_duration
from meetmesh_sdk.loadtest.report import write
from meetmesh_sdk.loadtest.runner import BotResult, Report
from meetmesh_sdk.room import Room
from tests.rtc_helpers import Rtc


async def test_a_short_load_test_reports_frames_loss_and_latency(rtc: Rtc, tmp_path: Path) -> None:
    hosts = rtc.platform.hosts
    options = LoadTestOptions(
        rooms=1,
        publishers=1,
        subscribers=2,
        # Long enough for three aiortc peers to connect on a loaded 2-core CI machine: one CI run
        # (2026-12-03) saw no subscriber's first frame within 6 s, with every bot joined.
        duration_s=10,
        user_server=f"127.0.0.1:{hosts['user'].grpc_port}",
        meeting_server=f"127.0.0.1:{hosts['meeting'].grpc_port}",
        platform_pids=[os.getpid()],  # the services run in this process here
        video_size=(320, 240),
        fps=15,
    )
    lines: list[str] = []
    report = await LoadTest(options, lines.append).run()
    summary = report.summary()
    failures = [b.error for b in report.bots if b.error]
    assert summary["joined"] == summary["bots"] == 3 and summary["errors"] == 0, failures
    assert summary["join_ms"]["n"] == 3 and 0 < summary["join_ms"]["max"] < 20_000
    progress = "\n".join(lines)  # the live progress, second by second, when this fails
    assert summary["subscribers_with_video"] == 2, progress
    assert 0 < summary["first_frame_ms"]["max"] < 20_000
    assert summary["frames_received"] > 10
    assert summary["packets_received"] > 0 and summary["loss_percent"] < 5
    assert summary["kbps_per_subscriber"] > 0
    assert summary["platform_cpu_percent"]["n"] >= 3
    assert any("joined 3/3" in line for line in lines)  # the live progress
    json_path, html_path = write(report, tmp_path / "report")
    data = json.loads(json_path.read_text())
    assert data["summary"]["frames_received"] == summary["frames_received"]
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2 and "time to first frame" in page
    # The meeting ended with the run.
    assert "meetmesh load test" in report.table()


def test_durations_parse() -> None:
    assert parse_duration("30s") == 30 and parse_duration("2m") == 120 and parse_duration("1m30s") == 90
    assert parse_duration("45") == 45
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_errors_are_counted_and_shown_with_their_cause() -> None:
    """A bot's failure (one it met joining, or background work of its room, such as a subscription
    never answered) is counted and named in the table, the same ones once with their count."""
    bots = [
        BotResult(room=0, role="publisher", name="p", join_s=0.1),
        BotResult(room=0, role="subscriber", name="s1", join_s=0.2, error="SignalingError: no answer"),
        BotResult(room=0, role="subscriber", name="s2", join_s=0.2, error="SignalingError: no answer"),
        BotResult(room=0, role="subscriber", name="s3", error="GRPCError: meeting is full"),
    ]
    options = {"rooms": 1, "publishers": 1, "subscribers": 3, "duration_s": 5, "meeting_server": "x"}
    report = Report(options, 0.0, 5.0, bots, [], [])
    assert report.summary()["errors"] == 3 and report.summary()["joined"] == 3
    table = report.table()
    assert "(3 errors)" in table
    assert "SignalingError: no answer  (x2)" in table and "GRPCError: meeting is full" in table


def test_a_rooms_failed_background_work_becomes_its_bots_error() -> None:
    """Also for a room with no peer connection (one whose negotiation failed may be resuming); the
    first failure counts, and a bot's own error is not overwritten."""
    run = LoadTest(LoadTestOptions())
    quiet, failing, erred = (Room("127.0.0.1:1", "token") for _ in range(3))
    bots = [BotResult(room=0, role="subscriber", name=n) for n in ("quiet", "failing", "erred")]
    bots[2].error = "GRPCError: meeting is full"
    for room, bot in zip((quiet, failing, erred), bots, strict=True):
        run._rooms.append(room)
        run._bot_of[id(room)] = bot
    failing.failures += ["SignalingError: no answer", "SignalingError: later"]
    erred.failures.append("SignalingError: no answer")
    assert failing.pc is None
    run._take_room_failures()
    assert [b.error for b in bots] == ["", "SignalingError: no answer", "GRPCError: meeting is full"]


def test_jitter_is_taken_across_a_timestamp_wrap() -> None:
    """aiortc's receive statistics after ``unwrap_jitter_timestamps``: a stream whose RTP
    timestamp wraps past 2^32 keeps its jitter at the size of its real steps (20 ms of 48 kHz
    audio here, fed at once, so each packet's arrival step is ~0 and its jitter tends to
    960/16 per packet); unpatched, the wrap reads as a ~2^32 step (jitter ~2^28)."""
    from aiortc.rtcrtpreceiver import StreamStatistics
    from aiortc.rtp import RtpPacket

    from meetmesh_sdk.loadtest.runner import unwrap_jitter_timestamps

    unwrap_jitter_timestamps()
    unwrap_jitter_timestamps()  # twice: no double wrapping
    stats = StreamStatistics(clockrate=48_000)
    start = (1 << 32) - 960 * 10
    for i in range(40):
        stats.add(RtpPacket(sequence_number=i, timestamp=(start + 960 * i) & 0xFFFFFFFF))
    assert stats.packets_received == 40
    assert 0 < stats.jitter <= 960, stats.jitter
