"""Runs the edge under uvicorn (uvloop and httptools where available)."""

from __future__ import annotations

import asyncio

import uvicorn

from services.edge.app import Edge, create_app
from services.edge.config import EdgeSettings
from services.edge.connections import ConnectionLimits, protocol_classes
from services.kit import configure_logging


def uvicorn_config(settings: EdgeSettings, app: Edge | None = None) -> uvicorn.Config:
    """uvicorn running the edge, with the edge's connection defences (`connections.py`)."""
    options = settings.edge_svc
    limits = ConnectionLimits(
        max_per_address=options.max_connections_per_address, header_timeout_s=options.header_timeout_s
    )
    http, ws = protocol_classes(limits)
    return uvicorn.Config(
        app if app is not None else create_app(settings),
        host=options.host,
        port=options.port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        loop="auto",
        http=http,
        ws=ws,
        timeout_keep_alive=max(1, round(options.idle_timeout_s)),
        server_header=False,
        proxy_headers=False,
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
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.Server(uvicorn_config(settings)).run()


if __name__ == "__main__":
    main()
