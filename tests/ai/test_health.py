"""The ai service's health without models (issue 11: gRPC health said SERVING while `/healthz`
said 503): both say not ready, while its calls answer UNAVAILABLE and the process keeps running."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from grpclib.client import Channel
from grpclib.health.v1 import health_grpc, health_pb2

from services.ai.config import AiServiceOptions
from services.ai.wiring import create
from services.kit import Runtime, ServiceHost, service_block
from services.stack.servers import free_port
from tests.ai.conftest import AiTestSettings
from tests.conftest import PG_URL, REDIS_URL


async def test_without_a_model_repository_both_health_ports_say_not_ready(
    tmp_path: Path, keys_dir: Path, run_id: str
) -> None:
    settings = AiTestSettings(
        database_url=PG_URL,
        redis_url=REDIS_URL,
        redis_prefix=f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
        keys_dir=keys_dir,
        shutdown_grace_s=1.0,
        ai=service_block(
            AiServiceOptions,
            "ai",
            model_repository=tmp_path / "no-models",  # never built: Triton is not started
            triton_url=f"127.0.0.1:{free_port()}",
        ),
    )
    runtime = Runtime(settings, schema_prefix=f"t{run_id}_{uuid.uuid4().hex[:6]}_")
    host = ServiceHost(await create(runtime), runtime.tokens, shutdown_grace_s=1.0)
    await host.start()
    channel = Channel("127.0.0.1", host.grpc_port)
    try:
        health = health_grpc.HealthStub(channel)
        for service in ("", "meetmesh.ai.v1.AnalysisService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING, service
        async with httpx.AsyncClient() as http:
            healthz = await http.get(f"http://127.0.0.1:{host.http_port}/healthz")
        assert healthz.status_code == 503
    finally:
        channel.close()
        await host.stop()
        await runtime.drop_schemas()
        await runtime.close()
