"""The ai service's own management of the bundled tritonserver: start, supervision, stop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import tritonclient.grpc.aio as grpcclient

from services.ai.triton import TritonOptions, TritonServer, free_port


async def test_supervised_server_restarts_after_a_crash(model_repository: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(model_repository / "face_detector", repository / "face_detector", copy_function=os.link)
    server = TritonServer(
        TritonOptions(repository=repository, workdir=tmp_path / "work", grpc_port=free_port())
    )
    await server.start()
    client = grpcclient.InferenceServerClient(server.url)
    try:
        assert await client.is_model_ready("face_detector")
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(60):
            while not (server.restarts == 1 and server.running and server.pid != first):
                await asyncio.sleep(0.1)
            while True:
                try:
                    if await client.is_model_ready("face_detector"):
                        break
                except Exception:  # noqa: S110 - not accepting connections yet
                    pass
                await asyncio.sleep(0.1)
    finally:
        await client.close()
        await server.stop()
    assert not server.running
