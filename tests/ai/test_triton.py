"""The ai service's own management of the bundled tritonserver: start, supervision, stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import tritonclient.grpc.aio as grpcclient

from services.ai.triton import TritonOptions, TritonServer
from services.stack.servers import free_port
from tests.support import wait_until


async def test_supervised_server_restarts_after_a_crash(model_repository: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(model_repository / "face_detector", repository / "face_detector", copy_function=os.link)
    server = TritonServer(
        TritonOptions(repository=repository, workdir=tmp_path / "work", grpc_port=free_port())
    )
    await server.start()
    client = grpcclient.InferenceServerClient(server.url)

    async def restarted() -> bool:
        return server.restarts == 1 and server.running and server.pid != first

    async def model_ready() -> bool:
        with contextlib.suppress(Exception):  # not accepting connections yet
            return bool(await client.is_model_ready("face_detector"))
        return False

    try:
        assert await model_ready()
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_until(restarted, within_s=60)
        await wait_until(model_ready, within_s=60)
    finally:
        await client.close()
        await server.stop()
    assert not server.running
