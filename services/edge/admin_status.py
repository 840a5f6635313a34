"""``GET /v1/admin/status``: the web client's admin status page's data, admins only.

The edge runs a fixed list of PromQL range queries (``STATUS_CHARTS``: the first panels of the
Grafana overview dashboard) against Prometheus (``MEETMESH_EDGE__PROMETHEUS_URL``) and answers them as
JSON. Nothing from the request reaches Prometheus but the time window, itself one of a few fixed
choices (``?window=5m|15m|1h|6h``, default 15m): never PromQL from a browser.

Admission: the per-address rate limit, a valid access token (401 without), whose role is
``admin`` (403 otherwise) and whose session and user are not revoked (the platform's revocation
marks in Redis), then the per-token rate limit. Answers are cached for a few seconds per window,
so that many open status pages cost Prometheus the same.

Answer::

    {"window_s": 900, "step_s": 15, "charts": [
        {"key": "rps", "title": "Calls per second by service", "unit": "reqps",
         "series": [{"name": "meeting", "points": [[1764612000.0, 12.5], ...]}]}, ...]}
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any

import httpx
from grpclib.const import Status

from services.edge.admission import Admission
from services.edge.asgi import Request, Send, respond
from services.edge.status import EdgeError
from services.kit.errors import MeetmeshError
from services.kit.revocation import Revocations
from services.observability.dashboards import STATUS_CHARTS, StatusChart

PATH = "/v1/admin/status"
WINDOWS_S = {"5m": 300, "15m": 900, "1h": 3600, "6h": 21600}
POINTS = 60  # per series: the step is the window over this
CACHE_S = 5.0
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _series_name(legend: str, labels: dict[str, str]) -> str:
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), legend) or "value"


def _value(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


class AdminStatus:
    def __init__(self, prometheus_url: str, admission: Admission, revocations: Revocations) -> None:
        self._url = prometheus_url.rstrip("/")
        self._admission = admission
        self._revocations = revocations
        self._http: httpx.AsyncClient | None = None
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def handles(request: Request) -> bool:
        return request.raw_path == PATH

    async def serve(self, request: Request, send: Send) -> None:
        request.protocol = "json"
        request.rpc = PATH
        if request.method not in ("GET", "HEAD"):
            raise EdgeError(Status.UNIMPLEMENTED, "use GET", http_status=405, headers=[("allow", "GET")])
        await self._admit(request)
        params = dict(request.query())
        window = params.get("window", "15m")
        if window not in WINDOWS_S:
            raise EdgeError(Status.INVALID_ARGUMENT, f"window must be one of {', '.join(WINDOWS_S)}")
        body = await self._answer(window)
        await respond(
            send,
            request,
            200,
            [("content-type", "application/json"), ("cache-control", "no-store")],
            body if request.method == "GET" else b"",
        )

    async def _admit(self, request: Request) -> None:
        principal = await self._admission.user(request)  # the rate limits and the access token
        try:
            revoked = await self._revocations.is_revoked(principal)
        except MeetmeshError as exc:
            raise EdgeError.from_error(exc) from None
        if revoked:
            raise EdgeError(Status.UNAUTHENTICATED, "the session has ended")
        if not principal.is_admin:
            raise EdgeError(Status.PERMISSION_DENIED, "the status page is for admins", http_status=403)

    async def _answer(self, window: str) -> bytes:
        async with self._lock:  # one refresh at a time; the others get its answer
            cached = self._cache.get(window)
            if cached is not None and time.monotonic() - cached[0] < CACHE_S:
                return cached[1]
            if not self._url:
                raise EdgeError(
                    Status.UNAVAILABLE, "no Prometheus configured (MEETMESH_EDGE__PROMETHEUS_URL)"
                )
            window_s = WINDOWS_S[window]
            step_s = window_s // POINTS
            end = time.time()
            charts = await asyncio.gather(
                *(self._chart(c, end - window_s, end, step_s) for c in STATUS_CHARTS)
            )
            body = json.dumps(
                {"window_s": window_s, "step_s": step_s, "charts": charts}, separators=(",", ":")
            ).encode()
            self._cache[window] = (time.monotonic(), body)
            return body

    async def _chart(self, chart: StatusChart, start: float, end: float, step_s: int) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        query = chart.query
        try:
            reply = await self._http.get(
                f"{self._url}/api/v1/query_range",
                params={
                    "query": query.expr,
                    "start": f"{start:.3f}",
                    "end": f"{end:.3f}",
                    "step": f"{step_s}s",
                },
            )
            data = reply.json()
        except (httpx.HTTPError, ValueError):
            raise EdgeError(Status.UNAVAILABLE, "Prometheus is not reachable") from None
        if data.get("status") != "success":
            raise EdgeError(Status.UNAVAILABLE, f"Prometheus refused the {chart.key} query")
        series = [
            {
                "name": _series_name(query.legend, item.get("metric", {})),
                "points": [[float(t), _value(v)] for t, v in item.get("values", [])],
            }
            for item in data["data"]["result"]
        ]
        series.sort(key=lambda s: str(s["name"]))
        return {"key": chart.key, "title": chart.panel.title, "unit": chart.panel.unit, "series": series}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
