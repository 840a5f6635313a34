"""Fixtures of the ai tests: the real bundled tritonserver (one per session) and the ai service.

The model repository is built by `make models` (built here when missing); the session serves a
hard-linked copy of it so that tests may add versions without touching the build output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tritonclient.grpc as syncclient
from grpclib.client import Channel

from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.v1 import ai_grpc
from services.ai.config import AiServiceOptions, AiSettings
from services.ai.modelbuild import build
from services.ai.triton import TritonOptions, command, server_environment
from services.kit import Runtime, ServiceHost, service_block
from services.kit import channel as kit_channel
from services.stack.servers import free_port
from tests.conftest import PG_URL, REDIS_URL
from tests.support import Platform, TestSettings, make_settings

ROOT = Path(__file__).resolve().parents[2]
# MEETMESH_TEST_MODEL_REPOSITORY: test a repository built elsewhere (a model build under review)
BUILT = Path(os.environ.get("MEETMESH_TEST_MODEL_REPOSITORY", ROOT / "var" / "model_repository"))


class BundledTriton:
    """The bundled tritonserver in a subprocess, restartable on the same port."""

    def __init__(self, repository: Path, workdir: Path) -> None:
        self.options = TritonOptions(
            repository=repository, workdir=workdir, grpc_port=free_port(), metrics_port=free_port()
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.options.grpc_port}"

    @property
    def metrics_address(self) -> str:
        """Triton's Prometheus metrics (``/metrics``), as Prometheus scrapes them."""
        return f"127.0.0.1:{self.options.metrics_port}"

    def start(self) -> None:
        self.options.workdir.mkdir(parents=True, exist_ok=True)
        with (self.options.workdir / "tritonserver.log").open("ab") as log:
            self.process = subprocess.Popen(
                command(self.options), stdout=log, stderr=log, env=server_environment()
            )
        client = syncclient.InferenceServerClient(self.url)
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, "tritonserver exited; see its log in the session tmp dir"
                try:
                    if client.is_server_ready():
                        return
                except Exception:  # noqa: S110 - not up yet
                    pass
                time.sleep(0.2)
        finally:
            client.close()
        raise TimeoutError("tritonserver did not become ready")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _link_copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=os.link)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (BUILT / "BUILD.json").is_file():
        build(BUILT, ROOT / "var" / "cache" / "modelbuild")
    target = tmp_path_factory.mktemp("triton") / "model_repository"
    _link_copy(BUILT, target)
    return target


@pytest.fixture(scope="session")
def triton(model_repository: Path) -> Iterator[BundledTriton]:
    server = BundledTriton(model_repository, model_repository.parent / "work")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class AiTestSettings(TestSettings, AiSettings):
    # pydantic takes an inherited field from the first base that has it (TestSettings' plain ai
    # endpoint), so the ai block is declared again here.
    ai: AiServiceOptions = service_block(AiServiceOptions, "ai")


@dataclass
class AiPlatform:
    host: ServiceHost
    runtime: Runtime
    channel: Channel
    # Calls as the media service makes them (Analyze is internal: it needs a service token).
    service_channel: Channel

    @property
    def analysis(self) -> ai_grpc.AnalysisServiceStub:
        return ai_grpc.AnalysisServiceStub(self.channel)

    @property
    def streams(self) -> analysis_stream_grpc.AnalysisStreamServiceStub:
        return analysis_stream_grpc.AnalysisStreamServiceStub(self.service_channel)

    def token(self, role: str = "admin") -> dict[str, str]:
        access, _ = self.runtime.tokens.issue_access(
            user_id=uuid.uuid4().hex[:12], role=role, session_id=uuid.uuid4().hex, ttl_s=600
        )
        return {"authorization": f"Bearer {access}"}


@pytest.fixture
async def ai(
    triton: BundledTriton,
    model_repository: Path,
    keys_dir: Path,
    run_id: str,
    mongo_url: str,
    mongo_database: str,
) -> AsyncIterator[AiPlatform]:
    """The ai service over real gRPC, results on FerretDB (MongoDB), on PostgreSQL and Redis,
    served by the session's Triton."""
    settings = AiTestSettings(
        database_url=PG_URL,
        redis_url=REDIS_URL,
        mongo_url=mongo_url,
        redis_prefix=f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
        keys_dir=keys_dir,
        shutdown_grace_s=2.0,
        ai=service_block(
            AiServiceOptions,
            "ai",
            model_repository=model_repository,
            manage_triton=False,
            triton_url=triton.url,
            stream_idle_timeout_s=3.0,
            inference_timeout_s=20.0,
            mongo_database=mongo_database,
        ),
    )
    runtime = Runtime(settings, schema_prefix=f"t{run_id}_{uuid.uuid4().hex[:6]}_")
    from services.ai.wiring import create

    host = ServiceHost(await create(runtime), runtime.tokens, shutdown_grace_s=2.0)
    await host.start()
    channel = Channel("127.0.0.1", host.grpc_port)
    as_media = kit_channel(f"127.0.0.1:{host.grpc_port}", runtime.identity("media"))
    try:
        yield AiPlatform(host, runtime, channel, as_media)
    finally:
        channel.close()
        as_media.close()
        await host.stop()
        await runtime.drop_schemas()
        await runtime.close()


@pytest.fixture
async def meeting_platform(
    triton: BundledTriton,
    model_repository: Path,
    keys_dir: Path,
    run_id: str,
    mongo_url: str,
    mongo_database: str,
) -> AsyncIterator[Platform]:
    """User, meeting and ai services on PostgreSQL/Redis, the ai service on the session's Triton
    with its results on FerretDB (MongoDB)."""
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    base = make_settings(stores, keys_dir).model_dump()
    base["mongo_url"] = mongo_url
    base["ai"] = AiServiceOptions(
        **base["ai"],
        model_repository=model_repository,
        manage_triton=False,
        triton_url=triton.url,
        stream_idle_timeout_s=3.0,
        mongo_database=mongo_database,
    )
    settings = AiTestSettings(**base)
    platform = Platform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))  # type: ignore[arg-type]
    try:
        for service in ("user", "meeting", "ai"):
            await platform.start(service)
        yield platform
    finally:
        await platform.close()
