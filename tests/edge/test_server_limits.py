"""hypercorn's listeners take their connection limits from the edge's settings (hypercorn's own
default ends a keep-alive or HTTP/2 connection after 1,000 requests)."""

from __future__ import annotations

import os
import socket

from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings


def test_hypercorn_takes_the_limits_from_the_settings() -> None:
    settings = EdgeSettings(
        edge=EdgeOptions(
            tls=False,
            max_requests_per_connection=12345,
            idle_timeout_s=7.0,
            h2_max_concurrent_streams=33,
            max_header_bytes=4096,
        )
    )
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        config = edge_server.hypercorn_config(settings, plain, None)
    for bound in config.bind + config.insecure_bind:  # the duplicates it made for itself
        os.close(int(bound.removeprefix("fd://")))
    assert config.keep_alive_max_requests == 12345
    assert config.keep_alive_timeout == 7.0
    assert config.h2_max_concurrent_streams == 33
    assert config.h11_max_incomplete_size == config.h2_max_header_list_size == 4096
    assert EdgeOptions().max_requests_per_connection == 100_000  # not hypercorn's 1,000
