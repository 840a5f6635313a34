"""uvicorn's (with the edge's HTTP/2), hypercorn's and granian's listeners take their connection
limits from the edge's settings (hypercorn's own default ends a keep-alive or HTTP/2 connection
after 1,000 requests; granian's embedded default serves 128 connections at once, idle ones
included), and the uvicorn TLS listener is refused beside another plain-port server."""

from __future__ import annotations

import os
import socket

import pytest
from pydantic import ValidationError

from services.edge import granian_listener
from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.kit.h2_server import Http2Limits


def test_uvicorns_listeners_take_the_limits_from_the_settings() -> None:
    options = EdgeOptions(
        max_requests_per_connection=12345,
        idle_timeout_s=7.0,
        header_timeout_s=3.0,
        h2_max_concurrent_streams=33,
        max_header_bytes=4096,
        max_connections_per_address=9,
    )
    config = edge_server.uvicorn_config(EdgeSettings(edge=options), app=object())  # type: ignore[arg-type]
    limits = config.http.limits  # type: ignore[union-attr]
    assert limits.max_per_address == 9 and limits.header_timeout_s == 3.0
    assert limits.http2 == Http2Limits(
        max_streams=33, max_header_bytes=4096, max_requests=12345, header_timeout_s=3.0, idle_timeout_s=7.0
    )
    assert config.timeout_keep_alive == 7


def test_the_uvicorn_tls_listener_only_beside_uvicorn() -> None:
    with pytest.raises(ValidationError, match="set MEETMESH_EDGE__TLS_SERVER to hypercorn or granian"):
        EdgeOptions(server="hypercorn")
    assert EdgeOptions(server="hypercorn", tls=False).server == "hypercorn"
    assert EdgeOptions(server="hypercorn", tls_server="hypercorn").tls_server == "hypercorn"


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


def test_granian_takes_the_limits_from_the_settings() -> None:
    options = EdgeOptions(
        header_timeout_s=3.0,
        idle_timeout_s=7.0,
        h2_max_concurrent_streams=33,
        max_header_bytes=20_000,
        max_connections=5000,
    )
    http1 = granian_listener.http1_settings(options)
    http2 = granian_listener.http2_settings(options)
    assert http1.header_read_timeout == 3000  # ms: the lower of the header and idle deadlines
    assert (
        granian_listener.http1_settings(
            options.model_copy(update={"idle_timeout_s": 1.5})
        ).header_read_timeout
        == 1500
    )
    assert http1.max_buffer_size == 20_000
    # hyper's floor for the HTTP/1.1 buffer is 8 KiB; HTTP/2 takes the setting as it is
    small = options.model_copy(update={"max_header_bytes": 4096})
    assert granian_listener.http1_settings(small).max_buffer_size == 8192
    assert granian_listener.http2_settings(small).max_headers_size == 4096
    assert http2.max_concurrent_streams == 33
    assert http2.max_headers_size == 20_000
    assert (http2.keep_alive_interval, http2.keep_alive_timeout) == (7000, 7)
    assert EdgeOptions().max_connections == 4096  # not granian's embedded 128


async def test_a_granian_listener_is_built_with_those_settings() -> None:
    options = EdgeOptions(max_connections=300, h2_max_concurrent_streams=9)

    async def app(scope: object, receive: object, send: object) -> None:  # never called
        raise AssertionError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listener = granian_listener.start(app, options, sock, None)
        await listener.stop()
    server = listener.server
    assert server.backpressure == 300  # not granian's embedded default (128)
    assert server.http2_settings == granian_listener.http2_settings(options)
    assert server.http1_settings == granian_listener.http1_settings(options)
    assert str(server.http) == "auto" and server.websockets  # HTTP/1.1 + h2c, and /rtc
