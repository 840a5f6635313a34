"""Runs the edge under uvicorn (uvloop and httptools where available)."""

from __future__ import annotations

import logging

import uvicorn

from services.edge.app import create_app
from services.edge.config import EdgeSettings


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
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uvicorn.Server(uvicorn_config(EdgeSettings())).run()


if __name__ == "__main__":
    main()
