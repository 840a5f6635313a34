"""The web client in Chromium over the edge's TLS listener, where the browser picks HTTP/2 by
ALPN and the edge's own HTTP/2 server (services/kit/h2_server.py) answers: the page, its assets
(many streams at once on one connection) and the calls of signing up all go over h2."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.rtc_helpers import Rtc
from tests.web.conftest import WebPlatform, serve_web
from tests.web.test_e2e import sign_up


@pytest.fixture
async def web_tls(rtc: Rtc, web_dist: Path, tmp_path: Path) -> AsyncIterator[WebPlatform]:
    async with serve_web(rtc, web_dist, tls_dir=tmp_path / "tls") as served:
        yield served


async def test_the_web_client_works_over_http2_and_tls(web_tls: WebPlatform, chromium: Browser) -> None:
    assert web_tls.url.startswith("https://")
    context = await chromium.new_context(ignore_https_errors=True)  # the development certificate
    try:
        page = await context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        await page.goto(web_tls.url + "/signup")
        await sign_up(page, "Hana Http", f"hana-{uuid.uuid4().hex[:8]}@example.test")
        await expect(page.get_by_role("heading", name="Meetings", exact=True)).to_be_visible()
        protocols = await page.evaluate(
            "[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
            ".map(e => [e.name, e.nextHopProtocol])"
        )
        assert len(protocols) > 3  # the page, its script and style, the calls
        assert {protocol for _, protocol in protocols} == {"h2"}, protocols
        assert failed == []
    finally:
        await context.close()
