"""Fixtures of the web client tests: the built client served by the edge in front of the whole
real-time platform (user, meeting, media, signaling on PostgreSQL and Redis), and Chromium."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.kit.objects import ObjectStoreSettings
from services.stack.servers import free_port
from tests.rtc_helpers import Rtc, media_options, real_platform, rtc, start_rtc  # noqa: F401 - the fixtures
from tests.support import Platform

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "clients" / "web"
DIST = WEB / "dist"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
    "--auto-select-desktop-capture-source=Entire screen",
]


def _sources_newer_than(target: Path) -> bool:
    built = target.stat().st_mtime
    sources = [
        *WEB.glob("src/**/*"),
        WEB / "index.html",
        WEB / "package-lock.json",
        *ROOT.glob("gen/ts/**/*.ts"),
    ]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built client (`make web-build` does the same; built here when missing or stale)."""
    index = DIST / "index.html"
    if not index.exists() or _sources_newer_than(index):
        npm = shutil.which("npm")
        assert npm, "npm is needed to build clients/web (Node 20)"
        if not (WEB / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
        subprocess.run([npm, "run", "build"], cwd=WEB, check=True, capture_output=True)
    assert AXE.exists(), "axe-core missing: run `npm ci` in clients/web"
    return DIST


@dataclass
class WebPlatform:
    rtc: Rtc
    url: str


@asynccontextmanager
async def serve_web(
    env: Rtc, web_dist: Path, port: int = 0, tls_dir: Path | None = None
) -> AsyncIterator[WebPlatform]:
    """The edge serving the client at / with gRPC-web and /rtc in front of the platform; with
    ``tls_dir``, its URL is the TLS listener's (the development certificate made there)."""
    platform = env.platform
    settings = EdgeSettings(
        **platform.settings.model_dump(exclude={"edge"}),
        edge=EdgeOptions(
            port=port or free_port(),
            tls=tls_dir is not None,
            tls_port=free_port(),
            tls_dev_dir=tls_dir or Path("var/tls"),
            web_root=web_dist,
            jwks_url=f"http://127.0.0.1:{platform.hosts['user'].http_port}/.well-known/jwks.json",
            signaling_ws_url=f"ws://127.0.0.1:{env.signaling_hosts[0].http_port}/rtc",
        ),
    )
    server, task = await edge_server.start(settings)
    try:
        yield WebPlatform(env, server.tls_url or f"http://127.0.0.1:{settings.edge.port}")
    finally:
        await edge_server.stop(server, task)


@pytest.fixture
def edge_port() -> int:
    return free_port()


@pytest.fixture
async def rtc_platform(run_id: str, keys_dir: Path, edge_port: int) -> AsyncIterator[Platform]:
    """The platform of `rtc` (see tests/rtc_helpers.py) with its object folder served by this test's
    edge, so that signed object URLs (avatar uploads) point at it."""
    objects = ObjectStoreSettings(
        local_dir=keys_dir.parent / f"objects-{uuid.uuid4().hex[:6]}",
        public_url=f"http://127.0.0.1:{edge_port}/objects",
    )
    platform = await real_platform(run_id, keys_dir, objects=objects)
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
async def web(rtc: Rtc, web_dist: Path, edge_port: int) -> AsyncIterator[WebPlatform]:  # noqa: F811 - fixture
    async with serve_web(rtc, web_dist, edge_port) as served:
        yield served


@pytest.fixture
async def web_recording(
    run_id: str, keys_dir: Path, s3_settings: ObjectStoreSettings, web_dist: Path, tmp_path: Path
) -> AsyncIterator[WebPlatform]:
    """The web platform with recordings stored in S3 (the session's SeaweedFS): their presigned
    URLs play in the page."""
    platform = await real_platform(run_id, keys_dir, objects=s3_settings)
    try:
        env = await start_rtc(platform, media=media_options(spool_dir=tmp_path / "spool"))
        try:
            async with serve_web(env, web_dist) as served:
                yield served
        finally:
            await env.close()
    finally:
        await platform.close()


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    """Where screenshots go (test artefacts); copied to var/web-shots afterwards for people to look at."""
    folder = tmp_path / "screens"
    folder.mkdir()
    yield folder
    keep = ROOT / "var" / "web-shots"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy2(shot, keep / shot.name)


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({ id: v.id, impact: v.impact,
                           nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5) }));
        }"""
    )
    return list(found)
