"""The web client's admin status page: an admin signs in in Chromium and sees live charts of the
platform, drawn from a real Prometheus (scraping the real services, with the deploy rules) through
the edge's fixed list of queries (``/v1/admin/status``); a member is refused, by the edge and so
by the page; a demoted admin's token stops working at once; nothing from the request but a fixed
time window reaches Prometheus.

Screenshots go to var/web-shots/ like the other web tests' (docs/web/admin-status.png is one).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.user.v1 import user_pb2
from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.observability import scrape_targets
from services.observability.dashboards import STATUS_QUERIES
from services.stack.servers import free_port
from services.user.store import UserStore
from tests.observability.prom import query, start_prometheus
from tests.rtc_helpers import Rtc
from tests.support import PASSWORD, Client, wait_until
from tests.web.conftest import axe_violations


async def sign_in(page: Page, url: str, email: str) -> None:
    await page.goto(url + "/admin/status")
    await expect(page).to_have_url(f"{url}/signin?next=%2Fadmin%2Fstatus")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(url + "/admin/status")


async def charts(page: Page) -> dict[str, int]:
    """Chart key -> the most points any of its series has (values, not gaps)."""
    found: dict[str, Any] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-testid=status-chart]')]
             .map(f => [f.dataset.key, Number(f.dataset.steps)]))"""
    )
    return {str(k): int(v) for k, v in found.items()}


async def test_an_admin_sees_live_charts_and_a_member_is_refused(
    rtc: Rtc, web_dist: Path, chromium: Browser, shots: Path, tmp_path: Path
) -> None:
    platform = rtc.platform
    edge_port = free_port()
    for service in ("user", "meeting", "media"):
        platform.settings.endpoint(service).http_port = platform.hosts[service].http_port
    platform.settings.endpoint("signaling").http_port = rtc.signaling_hosts[0].http_port
    targets = scrape_targets(
        platform.settings, services=("user", "meeting", "signaling", "media"), edge=f"127.0.0.1:{edge_port}"
    )
    prom = start_prometheus(tmp_path / "prometheus", targets)
    settings = EdgeSettings(
        **platform.settings.model_dump(exclude={"edge"}),
        edge=EdgeOptions(
            port=edge_port,
            tls=False,
            web_root=web_dist,
            prometheus_url=prom.url,
            jwks_url=f"http://127.0.0.1:{platform.hosts['user'].http_port}/.well-known/jwks.json",
            signaling_ws_url=f"ws://127.0.0.1:{rtc.signaling_hosts[0].http_port}/rtc",
        ),
    )
    edge, task = await edge_server.start(settings)
    url = f"http://127.0.0.1:{edge_port}"
    try:
        admin: Client = await platform.client("Admin")
        assert await UserStore(platform.runtime.database("user")).set_role(admin.email, "admin")
        member: Client = await platform.client("Member")
        await rtc.bot()  # a participant in the meeting: the meetings and participants charts

        # -- load until every status query has a value: calls on several services, a scrape apart
        async def every_query_answers() -> bool:
            for _ in range(5):
                await rtc.host.platform.meetings.GetMeeting(
                    meeting_pb2.GetMeetingRequest(name=rtc.meeting.name), metadata=rtc.host.metadata
                )
            answers = await asyncio.gather(*(query(prom, expr) for expr in STATUS_QUERIES.values()))
            return all(answers)

        await wait_until(every_query_answers, within_s=60, every_s=0.5)

        # -- the edge: admins only, a fixed window, no PromQL from outside ---------------------
        login = await platform.login(admin.email)
        admin_auth = {"authorization": f"Bearer {login.tokens.access_token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.get("/v1/admin/status")).status_code == 401
            malformed = await http.get("/v1/admin/status", headers={"authorization": "Basic abc"})
            assert malformed.status_code == 401, malformed.text  # was a 500 before the shared admission
            refused = await http.get("/v1/admin/status", headers=member.metadata)
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == 7  # PERMISSION_DENIED
            bad = await http.get("/v1/admin/status?window=1y", headers=admin_auth)
            assert bad.status_code == 400 and "window" in bad.json()["message"]
            got = await http.get(
                "/v1/admin/status?window=5m&query=up%7Bjob%3D%22user%22%7D", headers=admin_auth
            )
            assert got.status_code == 200, got.text
            reply = got.json()
            assert [c["key"] for c in reply["charts"]] == list(STATUS_QUERIES)  # the query was ignored
            assert reply["window_s"] == 300
            up = next(c for c in reply["charts"] if c["key"] == "up")
            assert {s["name"] for s in up["series"]} == {"user", "meeting", "signaling", "media", "edge"}

        # -- the page, as an admin -------------------------------------------------------------
        page = await chromium.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(20_000)
        await sign_in(page, url, admin.email)
        await expect(page.get_by_role("link", name="Status")).to_be_visible()
        await expect(page.get_by_test_id("status-chart")).to_have_count(len(STATUS_QUERIES))

        # a few points in each chart: the 5-minute window (5 s steps); the page refreshes itself
        # every 15 s (no reloads: a reload during a token refresh would burn the refresh token)
        await page.get_by_label("Time window").select_option("5m")
        await expect(page).to_have_url(url + "/admin/status?window=5m")

        async def all_drawn() -> bool:
            await rtc.host.platform.meetings.GetMeeting(
                meeting_pb2.GetMeetingRequest(name=rtc.meeting.name), metadata=rtc.host.metadata
            )
            problem = page.get_by_role("alert")
            assert not await problem.count(), await problem.all_inner_texts()
            found = await charts(page)
            return len(found) == len(STATUS_QUERIES) and all(n >= 3 for n in found.values())

        await wait_until(all_drawn, within_s=90, every_s=1)
        assert await page.get_by_label("Time window").input_value() == "5m"
        lines = await page.locator("[data-testid=status-chart] svg path").count()
        assert lines >= len(STATUS_QUERIES)
        assert await page.locator("[data-testid=status-chart][data-key=up] li").count() == 5
        assert not await axe_violations(page)
        await page.screenshot(path=str(shots / "admin-status.png"), full_page=True)

        # -- a member: no link, and the page says no (the edge refused it) --------------------
        other = await chromium.new_context()
        member_page = await other.new_page()
        member_page.set_default_timeout(20_000)
        await sign_in(member_page, url, member.email)
        await expect(member_page.get_by_test_id("status-refused")).to_be_visible()
        await expect(member_page.get_by_test_id("status-chart")).to_have_count(0)
        await expect(member_page.get_by_role("link", name="Status")).to_have_count(0)
        await member_page.screenshot(path=str(shots / "admin-status-refused.png"))
        await other.close()
        await page.close()

        # -- a demoted admin's token stops working at once (the platform's revocation marks) ----
        boss: Client = await platform.client("Boss")
        assert await UserStore(platform.runtime.database("user")).set_role(boss.email, "admin")
        boss_login = await platform.login(boss.email)
        await platform.users.SetUserRole(
            user_pb2.SetUserRoleRequest(name=admin.user.name, role=user_pb2.User.ROLE_MEMBER),
            metadata={"authorization": f"Bearer {boss_login.tokens.access_token}"},
        )
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            demoted = await http.get("/v1/admin/status", headers=admin_auth)
            assert demoted.status_code == 401, demoted.text
    finally:
        await edge_server.stop(edge, task)
        prom.remove()
