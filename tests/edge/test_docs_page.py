"""``/docs`` in Chromium: Swagger UI bundled from npm and served by the edge (no request leaves
it), every schema with enums and constraints, a sign-in box whose token "try it" sends, and no
serious or critical axe-core violation; ``/docs/grpc``: every service of the contract."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from meetmesh.meeting.v1 import meeting_pb2
from tests.edge.conftest import EdgeStack
from tests.support import PASSWORD
from tests.web.conftest import AXE, CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "clients" / "docs"
SHOTS = ROOT / "var" / "web-shots"


@pytest.fixture(scope="module")
def docs_dist() -> Path:
    """The built reference (`make web-build` does the same; built here when missing or stale)."""
    index = DOCS / "dist" / "index.html"
    sources = [*DOCS.glob("src/*"), DOCS / "package-lock.json", DOCS / "build.mjs"]
    if not index.exists() or any(p.stat().st_mtime > index.stat().st_mtime for p in sources):
        npm = shutil.which("npm")
        assert npm, "npm is needed to build clients/docs (Node 20)"
        if not (DOCS / "node_modules" / "swagger-ui-dist").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DOCS, check=True)
        subprocess.run([npm, "run", "build"], cwd=DOCS, check=True, capture_output=True)
    assert (DOCS / "node_modules" / "axe-core" / "axe.min.js").exists() or AXE.exists()
    return DOCS / "dist"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def serious_violations(page: Page) -> list[dict[str, object]]:
    axe = DOCS / "node_modules" / "axe-core" / "axe.min.js"
    await page.add_script_tag(path=str(axe if axe.exists() else AXE))
    found = await page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5) }));
        }"""
    )
    return list(found)


async def test_docs_sign_in_and_try_it(stack: EdgeStack, docs_dist: Path, browser: Browser) -> None:
    person = stack.client()
    meeting: meeting_pb2.Meeting = stack.run(person.create_meeting(title="Docs try-it"))
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(stack.url) else elsewhere.append(r.url))
    await page.goto(f"{stack.url}/docs")
    await page.wait_for_selector(".opblock-summary-path")

    # schemas: request bodies by reference, enums and constraints shown
    meeting_model = page.locator('[id="model-meetmesh.meeting.v1.Meeting"]')
    await meeting_model.locator(".model-box-control").first.click()
    for field in ("state", "title", "capacity"):  # open the properties' own boxes
        row = meeting_model.locator("tr.property-row", has_text=field).first
        await row.locator(".model-box-control").first.click()
    state = meeting_model.locator("tr.property-row", has_text="state").first
    await state.locator(".prop-enum .model-box-control").click()
    text = await meeting_model.inner_text()
    assert "STATE_SCHEDULED" in text and "STATE_ENDED" in text
    assert re.search(r"maxLength:\s*200", text), text[:2000]
    assert re.search(r"maximum:\s*1000", text), text[:2000]

    # sign in through the page's box (the Login JSON endpoint)
    await page.fill("#signin-email", person.email)
    await page.fill("#signin-password", PASSWORD)
    await page.click("#signin-submit")
    await page.wait_for_selector("#signin-status:has-text('Signed in as')")

    # try ListMeetings: the call carries the signed-in user's token
    operation = page.locator('[id$="MeetingService_ListMeetings"]')
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table tbody .response-col_status")
    await live.first.wait_for()
    assert (await live.first.inner_text()).strip().startswith("200")
    body = await operation.locator(
        ".live-responses-table tbody .response-col_description pre"
    ).first.inner_text()
    assert meeting.name in body

    assert not elsewhere, f"requests left the edge: {elsewhere}"
    # no character that needs an emoji or symbol font (a missing-glyph box where none is installed)
    symbols = await page.evaluate(
        """() => [...new Set(document.body.innerText)].filter(c => {
            const p = c.codePointAt(0);
            return (p >= 0x2190 && p <= 0x2bff) || (p >= 0xe000 && p <= 0xf8ff) || p >= 0x1f000;
        })"""
    )
    assert not symbols, symbols
    violations = await serious_violations(page)
    SHOTS.mkdir(parents=True, exist_ok=True)  # for people to look at (docs/api-reference*.png)
    await operation.screenshot(path=str(SHOTS / "api-reference-try-it.png"))
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(SHOTS / "api-reference.png"))
    assert not violations, violations


async def test_grpc_reference_page(stack: EdgeStack, docs_dist: Path, browser: Browser) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{stack.url}/docs/grpc")
    assert response is not None and response.status == 200
    headings = await page.locator("h2").all_inner_texts()
    for service in (
        "meetmesh.user.v1.UserService",
        "meetmesh.meeting.v1.MeetingService",
        "meetmesh.signaling.v1.SignalingService",
        "meetmesh.ai.v1.AnalysisService",
        "meetmesh.media.internal.v1.MediaService",
        "meetmesh.ai.internal.v1.AnalysisStreamService",
    ):
        assert any(h.startswith(service) for h in headings), headings
    login = page.locator("#meetmesh\\.user\\.v1\\.UserService\\.Login")
    assert "anyone (no token)" in await login.inner_text()
    assert "--protocol grpcweb" in await login.locator("pre").inner_text()
    signal = page.locator("#meetmesh\\.signaling\\.v1\\.SignalingService\\.Connect")
    assert "bidirectional stream" in await signal.inner_text()
    assert "-d @-" in await signal.locator("pre").inner_text()
    assert await page.locator(".kind.internal").count() >= 4
    violations = await serious_violations(page)
    assert not violations, violations
