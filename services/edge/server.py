"""Runs the edge under uvicorn (uvloop and httptools where available)."""

from __future__ import annotations

import uvicorn

from services.edge.app import create_app
from services.edge.config import EdgeSettings
from services.kit import configure_logging


def uvicorn_config(settings: EdgeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.edge_svc.host,
        port=settings.edge_svc.port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        loop="auto",
        http="auto",
        ws="websockets-sansio",
        server_header=False,
        proxy_headers=False,
    )


def main() -> None:
    settings = EdgeSettings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.Server(uvicorn_config(settings)).run()


if __name__ == "__main__":
    main()
