"""A live mesh for the SDK smoke tests: the real user and meeting services (PostgreSQL, Redis) and
the edge in front of them, on an event loop in a background thread, so that each flavour's
program (Python in a clean virtual environment, Go, Kotlin, TypeScript in Node) runs as a
separate process against their ports.

Every flavour runs the same scenario and prints one JSON object on stdout:

1. register a new account (the email and password come from the test);
2. register with a bad email and a short password, and decode the error: the gRPC code, the
   `google.rpc.ErrorInfo` reason and domain, and the fields of the `google.rpc.BadRequest`
   violations -> ``"error": {"code", "reason", "domain", "violations": [sorted fields]}``;
3. log in; create three meetings -> ``"created": [names]``;
4. list the caller's meetings two at a time, following ``next_page_token`` ->
   ``"listed": [names], "pages": n``;
5. join the first meeting -> ``"joined": {"participant": name, "state": number, "join_token": bool}``.

Native gRPC for Python, Go and Kotlin; gRPC-web through the edge for TypeScript.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meetmesh.meeting.v1 import meeting_pb2
from services.edge.app import Edge
from tests.edge.conftest import edge_settings
from tests.edge.harness import LoopThread, start_uvicorn, stop_uvicorn
from tests.support import PASSWORD, Platform, start_platform

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Mesh:
    loop: LoopThread
    platform: Platform
    edge_url: str

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.platform.hosts[service].grpc_port}"

    def account(self) -> tuple[str, str]:
        """A fresh email (never registered) and a valid password for one smoke run."""
        return f"sdk-{uuid.uuid4().hex[:10]}@example.test", PASSWORD

    def meetings_of(self, email: str) -> set[str]:
        """The names of the meetings `email` can list, read with the project's own client."""

        async def names() -> set[str]:
            login = await self.platform.login(email)
            auth = {"authorization": f"Bearer {login.tokens.access_token}"}
            reply = await self.platform.meetings.ListMeetings(
                meeting_pb2.ListMeetingsRequest(page_size=100), metadata=auth
            )
            return {m.name for m in reply.meetings}

        return self.loop.run(names())


@pytest.fixture(scope="session")
def mesh(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    loop = LoopThread()
    run_id = uuid.uuid4().hex[:8]
    stores = {
        "kind": "real",
        "database_url": postgres_url,
        "redis_url": redis_url,
        "schema_prefix": f"sdk{run_id}_",
        "redis_prefix": f"mmtest:sdk:{run_id}",
    }
    platform = loop.run(start_platform(stores, tmp_path_factory.mktemp("keys")), timeout=60)
    edge = Edge(edge_settings(platform, (REPO / "gen" / "meetmesh.binpb")))
    server, port = loop.run(start_uvicorn(edge))
    yield Mesh(loop, platform, f"http://127.0.0.1:{port}")
    loop.run(stop_uvicorn(server))
    loop.run(platform.close(), timeout=60)
    loop.stop()


def run_smoke(command: list[str], cwd: Path, timeout: float = 300, **kwargs: Any) -> dict[str, Any]:
    """Runs one flavour's smoke program; returns the JSON object it printed last."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (
        f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_scenario(mesh: Mesh, email: str, out: dict[str, Any]) -> None:
    """What every flavour must have seen, cross-checked against the services' own state."""
    assert out["user"].startswith("users/")
    assert out["error"] == {
        "code": 3,  # INVALID_ARGUMENT
        "reason": "INVALID_FIELD",
        "domain": "meetmesh.io",
        "violations": ["email", "password"],
    }
    assert len(out["created"]) == 3
    assert len(set(out["created"])) == 3
    assert sorted(out["listed"]) == sorted(out["created"])
    assert out["pages"] == 2  # 3 meetings, 2 per page
    assert mesh.meetings_of(email) == set(out["created"])
    joined = out["joined"]
    assert joined["participant"].startswith(out["created"][0] + "/participants/")
    assert joined["state"] == meeting_pb2.Participant.State.Value("STATE_ADMITTED")
    assert joined["join_token"] is True
