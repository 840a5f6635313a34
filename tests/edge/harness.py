"""Test harness for the edge: the test-only echo service compiled at start-up, servers run on an
event loop in a background thread (so sync and async tests, schemathesis and Node can call them)."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from google.protobuf import descriptor_pb2

from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
PROTOS = Path(__file__).parent / "protos"
T = TypeVar("T")


def compile_proto(out: Path, root: Path, proto: str) -> Path:
    """Compiles `root/proto` (Python + grpclib stubs) into `out`, importable at once; returns its
    descriptor set (with imports and source info) path."""
    out.mkdir(parents=True, exist_ok=True)
    descriptor_set = out / (Path(proto).stem + ".binpb")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{REPO / 'protos'}",
            f"-I{REPO / 'protos_vendor'}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={descriptor_set}",
            proto,
        ],
        check=True,
        env={"PATH": str(Path(sys.executable).parent)},
    )
    if str(out) not in sys.path:
        sys.path.append(str(out))
    importlib.invalidate_caches()
    return descriptor_set


def compile_echo(out: Path) -> Path:
    """Compiles echo.proto into `out`, returns its descriptor set path."""
    return compile_proto(out, PROTOS, "meetmesh/edgetest/v1/echo.proto")


def merge_descriptor_sets(*paths: Path) -> descriptor_pb2.FileDescriptorSet:
    merged = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()
    for path in paths:
        for fdp in descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file:
            if fdp.name not in seen:
                seen.add(fdp.name)
                merged.file.append(fdp)
    return merged


class LoopThread:
    """An asyncio loop (uvloop when present) running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="edge-test-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def start_uvicorn(app: Callable[..., Awaitable[None]], port: int = 0) -> tuple[uvicorn.Server, int]:
    """Serves `app`; an edge is served exactly as `meetmesh up` serves it (its own protocols)."""
    from services.edge.app import Edge
    from services.edge.server import uvicorn_config

    if isinstance(app, Edge):
        config = uvicorn_config(app.settings, app)
        config.host, config.port = "127.0.0.1", port
    else:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            access_log=False,
            log_level="warning",
            ws="websockets-sansio",
        )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    server._edge_task = task  # type: ignore[attr-defined]

    async def listening() -> bool:
        if task.done():
            task.result()  # surfaces a start-up error
        return bool(server.started)

    await wait_until(listening, within_s=10)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, int(bound)


async def stop_uvicorn(server: uvicorn.Server) -> None:
    server.should_exit = True
    await server._edge_task  # type: ignore[attr-defined]


class RecordedWrites:
    """A real transport with a record of its writes (a spy: every byte still goes out)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)
