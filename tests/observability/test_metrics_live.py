"""A real Prometheus scraping real services after a short load: every dashboard panel's query
returns series, and a stopped service's alert fires in a real Alertmanager and reaches the receiver.

One test on purpose: starting Prometheus, Alertmanager and the platform once keeps it fast.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as spb
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.observability import alertmanager_config, scrape_targets
from services.stack.observability import AlertmanagerServer
from services.stack.servers import free_port
from tests.observability.prom import WebhookReceiver, empty_panels, query, start_prometheus
from tests.rtc_helpers import real_platform, start_rtc
from tests.support import PASSWORD, wait_until


async def test_dashboards_have_data_and_a_stopped_service_pages(
    run_id: str, keys_dir: Path, tmp_path: Path
) -> None:
    platform = await real_platform(run_id, keys_dir)
    rtc = await start_rtc(platform)
    receiver = WebhookReceiver()
    await receiver.start()
    edge_port = free_port()
    edge_settings = EdgeSettings(
        **platform.settings.model_dump(exclude={"edge"}),
        edge=EdgeOptions(
            port=edge_port,
            jwks_url=f"http://127.0.0.1:{platform.hosts['user'].http_port}/.well-known/jwks.json",
        ),
    )
    edge, edge_task = await edge_server.start(edge_settings)
    alertmanager = AlertmanagerServer(
        alertmanager_config(receiver.url, group_wait_s=0.2, group_interval_s=1, repeat_interval_s=3600),
        tmp_path / "alertmanager",
    ).start()
    for service in ("user", "meeting", "signaling", "media"):
        endpoint = platform.settings.endpoint(service)
        endpoint.http_port = platform.hosts.get(service, rtc.signaling_hosts[0]).http_port
    targets = scrape_targets(
        platform.settings, services=("user", "meeting", "signaling", "media"), edge=f"127.0.0.1:{edge_port}"
    )
    prom = start_prometheus(tmp_path / "prometheus", targets, alertmanager.address, MeetmeshServiceDown="2s")
    try:

        async def all_scraped() -> bool:  # so that the load below shows as rates
            targets = await asyncio.to_thread(prom.targets)
            return len(targets) == 5 and all(t["health"] == "up" for t in targets)

        await wait_until(all_scraped, within_s=30, every_s=0.25)
        # -- load: gRPC calls (some failing), JSON calls through the edge, a meeting with media --
        guest = await platform.client("Guest")
        await guest.join(rtc.meeting.name, wait_for_admission=True)

        async def not_found() -> None:
            with pytest.raises(GRPCError) as missing:
                await guest.platform.meetings.GetMeeting(
                    meeting_pb2.GetMeetingRequest(name=f"meetings/{uuid.uuid4().hex}"),
                    metadata=guest.metadata,
                )
            assert missing.value.status is Status.NOT_FOUND

        # twice, a scrape apart: a series is born with its first call, and a rate needs an increase
        await not_found()

        async def seen() -> bool:
            return bool(await query(prom, 'grpc_server_handled_total{job="meeting", grpc_code="NOT_FOUND"}'))

        await wait_until(seen, within_s=30, every_s=0.25)
        await not_found()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_port}", timeout=30) as http:
            bad = await http.post(
                "/v1/sessions:login", json={"email": guest.email, "password": "wrong password!"}
            )
            assert bad.status_code == 401
            good = await http.post("/v1/sessions:login", json={"email": guest.email, "password": PASSWORD})
            assert good.status_code == 200, good.text
            token = good.json()["tokens"]["accessToken"]
            got = await http.get(f"/v1/{rtc.meeting.name}", headers={"authorization": f"Bearer {token}"})
            assert got.status_code == 200, got.text
        publisher = await rtc.bot()
        subscriber = await rtc.bot()
        await publisher.publish(ColorVideoTrack((30, 160, 60), width=160, height=120))
        await publisher.publish(ToneAudioTrack(440))
        remote = await subscriber.wait_for_track(lambda r: r.info.kind == spb.TRACK_KIND_VIDEO)
        for _ in range(10):
            await remote.track.recv()

        async def scraped_after_load() -> bool:
            forwarded = await query(prom, "sum(meetmesh_media_forwarded_bytes_total) > 0")
            first_frames = await query(prom, "sum(meetmesh_media_join_to_first_frame_seconds_count) > 0")
            edge_json = await query(prom, 'sum(edge_requests_total{protocol="json"}) >= 3')
            rates = await query(prom, 'job:grpc_server_requests:rate5m{job="meeting"} > 0')
            return bool(forwarded and first_frames and edge_json and rates)

        try:
            await wait_until(scraped_after_load, within_s=30, every_s=0.5)
        except TimeoutError:
            checks = {
                expr: await query(prom, expr)
                for expr in (
                    "sum(meetmesh_media_forwarded_bytes_total)",
                    "sum(meetmesh_media_join_to_first_frame_seconds_count)",
                    "sum by (protocol) (edge_requests_total)",
                    'job:grpc_server_requests:rate5m{job="meeting"}',
                )
            }
            raise AssertionError(f"after load: {checks}") from None

        # -- every panel of the overview, the per-service (for the loaded services) and media --
        # (polled: on a loaded machine a scrape of the in-process services may time out, and a
        # failed scrape makes their series stale until the next one)
        problems: list[str] = []

        async def every_panel_has_data() -> bool:
            found = await empty_panels(prom, "meetmesh-overview")
            for job in ("user", "meeting"):
                found += [f"[{job}] {p}" for p in await empty_panels(prom, "meetmesh-service", job=job)]
            found += await empty_panels(prom, "meetmesh-media")
            problems[:] = found
            return not found

        try:
            await wait_until(every_panel_has_data, within_s=30, every_s=1)
        except TimeoutError:
            raise AssertionError("\n".join(problems)) from None
        participants = await query(prom, "sum(meetmesh_participants_active)")
        assert float(participants[0]["value"][1]) >= 2  # the two bots, seen by signaling
        tracks = await query(prom, 'sum(meetmesh_media_forwarded_tracks{kind="video"})')
        assert float(tracks[0]["value"][1]) >= 1

        # -- a service stops: its alert fires, Alertmanager routes it to the receiver --------
        assert not receiver.firing("MeetmeshServiceDown")
        await platform.stop("meeting")

        async def paged() -> bool:
            return bool(receiver.firing("MeetmeshServiceDown", job="meeting"))

        await wait_until(paged, within_s=45, every_s=0.25)
        alert = receiver.firing("MeetmeshServiceDown", job="meeting")[0]
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["runbook"] == "docs/operations.md#meetmeshservicedown"
        in_alertmanager = [a["labels"]["alertname"] for a in alertmanager.alerts()]  # type: ignore[attr-defined]
        assert "MeetmeshServiceDown" in in_alertmanager
    finally:
        prom.remove()
        alertmanager.remove()
        await edge_server.stop(edge, edge_task)
        await receiver.stop()
        await rtc.close()
        await platform.close()
