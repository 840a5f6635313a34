"""Runs the edge under uvicorn (uvloop and httptools where available)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from services.edge.app import Edge, create_app
from services.edge.config import EdgeSettings
from services.edge.connections import ConnectionLimits, protocol_classes
from services.kit import configure_logging, tracing


def uvicorn_config(settings: EdgeSettings, app: Edge | None = None) -> uvicorn.Config:
    """uvicorn running the edge, with the edge's connection defences (`connections.py`)."""
    options = settings.edge_svc
    limits = ConnectionLimits(
        max_per_address=options.max_connections_per_address, header_timeout_s=options.header_timeout_s
    )
    http, ws = protocol_classes(limits)
    return uvicorn.Config(
        traced(app if app is not None else create_app(settings)),
        host=options.host,
        port=options.port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        log_config=None,  # uvicorn's dictConfig would close meetmesh's log handlers (kit/logs.py)
        loop="auto",
        http=http,
        ws=ws,
        timeout_keep_alive=max(1, round(options.idle_timeout_s)),
        server_header=False,
        proxy_headers=False,
    )


def traced(app: Any) -> Any:
    """The edge's ASGI app inside OpenTelemetry's ASGI instrumentation while tracing is on (a SERVER
    span per request, continuing the caller's ``traceparent``; named after the RPC by the
    pipeline's Telemetry stage)."""
    found = tracing.provider("edge")
    if found is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls="healthz,metrics",
        tracer_provider=found,
        exclude_spans=["receive", "send"],
        # the method only, until the pipeline knows the RPC (paths carry ids: never span names)
        default_span_details=lambda scope: (scope.get("method") or scope.get("type", "HTTP"), {}),
    )


async def start(settings: EdgeSettings) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Starts the edge on the running loop (as `meetmesh up` does); returns once it listens."""
    server = uvicorn.Server(uvicorn_config(settings))
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn sets `started` once its sockets listen
        if task.done():
            task.result()
            raise RuntimeError("the edge stopped while starting")
        await asyncio.sleep(0.01)
    return server, task


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


def main() -> None:
    settings = EdgeSettings()
    configure_logging(settings.log_level, settings.log_json, push_url=settings.log_push_url)
    tracing.configure(settings.tracing)
    uvicorn.Server(uvicorn_config(settings)).run()
    tracing.shutdown()


if __name__ == "__main__":
    main()
