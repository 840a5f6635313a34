"""Runs the edge: the plain port under uvicorn (HTTP/1.1 by uvicorn and httptools, h2c by the
edge's own HTTP/2 server), hypercorn (HTTP/1.1 and h2c) or granian (Rust; HTTP/1.1 and h2c), and
the TLS listener (HTTP/2 and HTTP/1.1 by ALPN) under the same three.

::

    :8800  uvicorn    HTTP/1.1 + h2c           connections.py: per-address cap, header deadline;
                                               HTTP/2 by h2_server.py
           hypercorn  HTTP/1.1 + h2c           (edge.server = "hypercorn")
           granian    HTTP/1.1 + h2c           (edge.server = "granian"; granian_listener.py)
    :8443  uvicorn    TLS, ALPN h2 / http/1.1  as on :8800 (only beside it); the certificate from
           hypercorn  TLS, ALPN h2 / http/1.1  configuration, or tls.py's dev one (its expiry
           granian    TLS, ALPN h2 / http/1.1  on /metrics, for the certificate alert)

All serve the same ``Edge`` app. Limits on the uvicorn and hypercorn listeners: header bytes
(``max_header_bytes``, HTTP/1.1 and HTTP/2), concurrent streams per HTTP/2 connection
(``h2_max_concurrent_streams``), the TLS handshake and a connection's first request within
``header_timeout_s``, idle connections closed after ``idle_timeout_s``; uvicorn's also cap
connections per address. granian's mapping of the same settings, and what it lacks, is in
granian_listener.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from services.edge import granian_listener
from services.edge.app import Edge, create_app
from services.edge.config import EdgeSettings
from services.edge.connections import ConnectionLimits, protocol_classes
from services.edge.spans import ServerSpans
from services.edge.tls import dev_certificate, not_after
from services.kit import configure_logging, tracing
from services.kit.h2_server import Http2Limits
from services.kit.loop import freeze_startup_heap, install_uvloop


def uvicorn_config(settings: EdgeSettings, app: Edge | None = None) -> uvicorn.Config:
    """uvicorn running the edge, with the edge's connection defences (`connections.py`)."""
    options = settings.edge
    http2 = Http2Limits(
        max_streams=options.h2_max_concurrent_streams,
        max_header_bytes=options.max_header_bytes,
        max_requests=options.max_requests_per_connection,
        header_timeout_s=options.header_timeout_s,
        idle_timeout_s=options.idle_timeout_s,
    )
    limits = ConnectionLimits(
        max_per_address=options.max_connections_per_address,
        header_timeout_s=options.header_timeout_s,
        http2=http2,
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


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def certificate(settings: EdgeSettings) -> tuple[str, str]:
    options = settings.edge
    if options.tls_certfile is not None and options.tls_keyfile is not None:
        return str(options.tls_certfile), str(options.tls_keyfile)
    cert, key = dev_certificate(options.tls_dev_dir)
    return str(cert), str(key)


def traced(app: Any) -> Any:
    """The edge's ASGI app with a SERVER span per request while tracing is on (``spans.py``: the
    services' sampling decision, a span only for a recorded request; the pipeline names it after
    the RPC once it knows it)."""
    found = tracing.tracer("edge")
    if found is None:
        return app
    return ServerSpans(app, found)


def hypercorn_config(settings: EdgeSettings, plain: socket.socket | None, tls: socket.socket | None) -> Any:
    """hypercorn on already-bound sockets (so port 0 works): TLS on ``tls``, h2c on ``plain``."""
    from hypercorn.config import Config

    options = settings.edge
    config = Config()
    # hypercorn wraps (and at the end closes) the descriptors it is given: give it duplicates.
    config.bind = [f"fd://{os.dup(tls.fileno())}"] if tls is not None else []
    config.insecure_bind = [f"fd://{os.dup(plain.fileno())}"] if plain is not None else []
    if tls is not None:
        config.certfile, config.keyfile = certificate(settings)
        config.alpn_protocols = ["h2", "http/1.1"]
    else:  # without a certificate hypercorn serves `bind` in the clear
        config.bind, config.insecure_bind = config.insecure_bind, []
    config.h11_max_incomplete_size = options.max_header_bytes
    config.h2_max_header_list_size = options.max_header_bytes
    config.h2_max_concurrent_streams = options.h2_max_concurrent_streams
    config.keep_alive_timeout = options.idle_timeout_s
    config.keep_alive_max_requests = options.max_requests_per_connection
    config.ssl_handshake_timeout = options.header_timeout_s
    config.graceful_timeout = 2.0
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = None
    config.loglevel = "WARNING"
    return config


def _without_lifespan(app: Edge) -> Any:
    """The app for a second server beside uvicorn, which owns the app's lifespan."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await app(scope, receive, send)

    return serve


def _body_read_before_the_end(app: Any, limit_s: float = 1.0) -> Any:
    """The app for hypercorn: a response that ends before the request body was read (an early
    401 or 429) first reads the rest of the body (for up to ``limit_s``). hypercorn 0.18 forgets
    an HTTP/2 stream once its response ends, and DATA frames that arrive for it afterwards fail
    the whole connection (KeyError in its event loop), taking every other stream with it."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        done = False

        async def tracked() -> Any:
            nonlocal done
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                done = True
            return message

        async def guarded(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(limit_s):
                        while not done:
                            await tracked()
            await send(message)

        await app(scope, tracked, guarded)

    return serve


@dataclass
class EdgeServers:
    """The edge's running listeners."""

    app: Edge
    port: int = 0  # the plain port
    tls_port: int = 0  # 0: no TLS listener
    _uvicorn: uvicorn.Server | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _granian: list[granian_listener.GranianListener] = field(default_factory=list)
    _shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    _sockets: list[socket.socket] = field(default_factory=list)
    _owns_lifespan: bool = False  # no uvicorn or hypercorn to run the app's lifespan: stop closes it

    @property
    def url(self) -> str:
        return f"http://{self.app.options.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://{self.app.options.host}:{self.tls_port}" if self.tls_port else ""


async def start_servers(settings: EdgeSettings, app: Edge | None = None) -> EdgeServers:
    """Starts the edge's listeners on the running loop; returns once they listen."""
    from hypercorn.asyncio import serve

    options = settings.edge
    app = app if app is not None else create_app(settings)
    servers = EdgeServers(app)
    tls = _listen(options.host, options.tls_port) if options.tls else None
    plain: socket.socket | None = None
    if options.server == "uvicorn":
        config = uvicorn_config(settings, app)
        servers._uvicorn = uvicorn.Server(config)
        task = asyncio.create_task(servers._uvicorn.serve())
        servers._tasks.append(task)
        while not servers._uvicorn.started:  # uvicorn sets `started` once its sockets listen
            if task.done():
                task.result()
                raise RuntimeError("the edge stopped while starting")
            await asyncio.sleep(0.01)
        servers.port = servers._uvicorn.servers[0].sockets[0].getsockname()[1]
    else:
        plain = _listen(options.host, options.port)
        servers.port = plain.getsockname()[1]
    servers._sockets = [s for s in (plain, tls) if s is not None]
    if tls is not None and options.tls_server == "uvicorn":
        assert servers._uvicorn is not None  # EdgeOptions holds tls_server uvicorn to server uvicorn
        await _uvicorn_tls(servers._uvicorn, tls, settings)
    hyper_plain = plain if options.server == "hypercorn" else None
    hyper_tls = tls if options.tls_server == "hypercorn" else None
    if hyper_plain is not None or hyper_tls is not None:
        hyper_app: Any = _body_read_before_the_end(
            traced(_without_lifespan(app) if servers._uvicorn is not None else app)
        )
        config = hypercorn_config(settings, hyper_plain, hyper_tls)
        servers._tasks.append(
            asyncio.create_task(serve(hyper_app, config, shutdown_trigger=servers._shutdown.wait))
        )
    else:
        servers._owns_lifespan = servers._uvicorn is None
    granian_app = traced(_without_lifespan(app))
    if plain is not None and options.server == "granian":
        servers._granian.append(granian_listener.start(granian_app, options, plain, None))
    if tls is not None and options.tls_server == "granian":
        servers._granian.append(granian_listener.start(granian_app, options, tls, certificate(settings)))
    if tls is not None:
        servers.tls_port = tls.getsockname()[1]
        # what the listener serves until a restart: the alert on it says when to renew
        app.certificate_expiry.labels("edge").set(not_after(certificate(settings)[0]).timestamp())
    if servers._sockets:
        tasks = servers._tasks + [listener.task for listener in servers._granian]
        await _until_listening(options.host, [s.getsockname()[1] for s in servers._sockets], tasks)
    return servers


async def _uvicorn_tls(server: uvicorn.Server, sock: socket.socket, settings: EdgeSettings) -> None:
    """The TLS listener beside uvicorn's plain port: the same protocol (connections.py: HTTP/1.1
    by uvicorn, HTTP/2 by h2_server.py when ALPN chose it), server state and app; a handshake has
    ``header_timeout_s``. uvicorn's shutdown closes it with its own listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(*certificate(settings))
    context.set_alpn_protocols(["h2", "http/1.1"])
    config = server.config
    factory = functools.partial(
        config.http_protocol_class,  # type: ignore[call-arg]
        config=config,
        server_state=server.server_state,
        app_state=server.lifespan.state,
    )
    listener = await asyncio.get_running_loop().create_server(
        factory,
        sock=sock,
        ssl=context,
        ssl_handshake_timeout=settings.edge.header_timeout_s,
        backlog=config.backlog,
    )
    server.servers.append(listener)


async def _until_listening(host: str, ports: list[int], tasks: list[asyncio.Task[None]]) -> None:
    for port in ports:
        for _ in range(500):
            for task in tasks:
                if task.done():
                    task.result()
                    raise RuntimeError("the edge stopped while starting")
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            break


async def stop_servers(servers: EdgeServers) -> None:
    servers._shutdown.set()
    if servers._uvicorn is not None:
        servers._uvicorn.should_exit = True
    for listener in servers._granian:
        await listener.stop()
    for task in servers._tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for sock in servers._sockets:
        sock.close()
    if servers._owns_lifespan:
        await servers.app.close()


async def start(settings: EdgeSettings) -> tuple[EdgeServers, None]:
    """Starts the edge on the running loop (as `meetmesh up` does); returns once it listens."""
    return await start_servers(settings), None


async def stop(servers: EdgeServers, _task: None = None) -> None:
    await stop_servers(servers)


def main() -> None:
    settings = EdgeSettings()
    configure_logging(settings.log_level, settings.log_json, push_url=settings.log_push_url)
    tracing.configure(settings.tracing)

    async def run() -> None:
        servers = await start_servers(settings)
        freeze_startup_heap()
        stop_now = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_now.set)
        await stop_now.wait()
        await stop_servers(servers)

    install_uvloop()
    asyncio.run(run())
    tracing.shutdown()


if __name__ == "__main__":
    main()
