"""Service identity: every internal method refuses anonymous callers and users, everywhere.

The methods are enumerated from `gen/meetmesh.binpb` (every method of every `meetmesh.*.internal.*`
package), not listed here, so a new internal method is covered the day it is added. Each is
called on the real service that hosts it (user, meeting, media and ai started together over real
gRPC) with no credential, a member's and an admin's access token, a join token, a forged service
token and the token of a service its contract does not name; then with a token of a service it
does name, which must get past admission.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

from meetmesh.options.v1 import options_pb2
from tests.conftest import PG_URL, REDIS_URL
from tests.edge.harness import LoopThread
from tests.support import Platform, error_info, start_platform

REPO = Path(__file__).resolve().parents[2]
DESCRIPTORS = REPO / "gen" / "meetmesh.binpb"
ALL_SERVICES = ("user", "meeting", "media", "signaling", "ai", "notification")


@dataclass(frozen=True)
class InternalMethod:
    service: str  # the hosting service, from the package: meetmesh.<service>.internal.v1
    path: str
    cardinality: Cardinality
    input_type: str
    callers: frozenset[str]  # the services the contract names

    def __str__(self) -> str:
        return self.path


def internal_methods() -> list[InternalMethod]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    found = []
    for fdp in fds.file:
        parts = fdp.package.split(".")
        if parts[0] != "meetmesh" or "internal" not in parts:
            continue
        for svc in fdp.service:
            for method in svc.method:
                access = method.options.Extensions[options_pb2.access]
                assert access.caller == options_pb2.CALLER_SERVICE, f"{svc.name}.{method.name}"
                cardinality = {
                    (False, False): Cardinality.UNARY_UNARY,
                    (False, True): Cardinality.UNARY_STREAM,
                    (True, False): Cardinality.STREAM_UNARY,
                    (True, True): Cardinality.STREAM_STREAM,
                }[(method.client_streaming, method.server_streaming)]
                found.append(
                    InternalMethod(
                        service=parts[1],
                        path=f"/{fdp.package}.{svc.name}/{method.name}",
                        cardinality=cardinality,
                        input_type=method.input_type.lstrip("."),
                        callers=frozenset(access.services),
                    )
                )
    return found


INTERNAL = internal_methods()


def test_the_contract_has_internal_methods_in_every_internal_package() -> None:
    services = {m.service for m in INTERNAL}
    assert {"media", "meeting", "ai"} <= services
    assert len(INTERNAL) >= 12  # media's 9, the meeting's 2, ai's Analyze


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def platform(loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    run_id = uuid.uuid4().hex[:8]
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"ident{run_id}_",
        "redis_prefix": f"mmtest:ident:{run_id}",
    }
    services = tuple(sorted({m.service for m in INTERNAL} | {"user", "meeting"}, key=ALL_SERVICES.index))
    plat = loop.run(start_platform(stores, tmp_path_factory.mktemp("keys"), services), timeout=120)
    yield plat
    loop.run(plat.close(), timeout=60)


async def _call(
    platform: Platform, method: InternalMethod, metadata: dict[str, str], reasons: list[str]
) -> Status:
    """One call with an empty request message; the status it ends with (refusals' ErrorInfo
    reasons go to ``reasons``)."""
    request_type = message_factory.GetMessageClass(
        descriptor_pool.Default().FindMessageTypeByName(method.input_type)
    )
    channel = Channel("127.0.0.1", platform.hosts[method.service].grpc_port)
    try:
        async with channel.request(
            method.path, method.cardinality, request_type, Any, metadata=metadata, timeout=10
        ) as stream:
            await stream.send_message(request_type(), end=True)
            await stream.recv_message()  # admitted: one reply is enough (WatchMeeting never ends)
            await stream.cancel()
        return Status.OK
    except GRPCError as exc:
        if exc.status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
            reasons.append(error_info(exc).reason)
        return exc.status
    finally:
        channel.close()


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _forged_service_token(platform: Platform) -> str:
    """Claims and key id of a real service token, signed by a key no service holds."""
    real, _ = platform.runtime.tokens.issue_service("signaling")
    header = jwt.get_unverified_header(real)
    now = int(time.time())
    claims = {"iss": "meetmesh", "aud": "meetmesh.internal", "sub": "media", "typ": "service"}
    claims |= {"iat": now, "exp": now + 60}
    return jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), "ES256", headers={"kid": header["kid"]}
    )


@pytest.mark.parametrize("method", INTERNAL, ids=str)
def test_internal_method_refuses_anonymous_and_user_callers(
    loop: LoopThread, platform: Platform, method: InternalMethod
) -> None:
    tokens = platform.runtime.tokens
    member, _ = tokens.issue_access(user_id="u-member", role="member", session_id="s1", ttl_s=60)
    admin, _ = tokens.issue_access(user_id="u-admin", role="admin", session_id="s2", ttl_s=60)
    join, _ = tokens.issue_join(
        user_id="u-member",
        meeting_id="m1",
        participant_id="p1",
        meeting_role="host",
        grants=["publish", "subscribe", "chat", "record", "moderate"],
        ttl_s=60,
    )
    cases: dict[str, tuple[dict[str, str], Status]] = {
        "no credential": ({}, Status.UNAUTHENTICATED),
        "malformed token": (_bearer("not.a.jwt"), Status.UNAUTHENTICATED),
        "forged service token": (_bearer(_forged_service_token(platform)), Status.UNAUTHENTICATED),
        "member's access token": (_bearer(member), Status.PERMISSION_DENIED),
        "admin's access token": (_bearer(admin), Status.PERMISSION_DENIED),
        "join token": (_bearer(join), Status.PERMISSION_DENIED),
    }
    assert method.callers, "every internal method names the services that call it"
    stranger = next(s for s in ("user", "meeting", "notification", "edge") if s not in method.callers)
    cases[f"the {stranger} service's token"] = (
        _bearer(tokens.issue_service(stranger)[0]),
        Status.PERMISSION_DENIED,
    )
    reasons: list[str] = []
    for case, (metadata, expected) in cases.items():
        status = loop.run(_call(platform, method, metadata, reasons))
        assert status == expected, f"{method.path} with {case}: {status.name}"
    assert set(reasons) <= {"MISSING_CREDENTIALS", "INVALID_TOKEN", "PERMISSION_DENIED"}, reasons
    for caller in sorted(method.callers):
        status = loop.run(_call(platform, method, _bearer(tokens.issue_service(caller)[0]), reasons))
        assert status not in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED), (
            f"{method.path} refused {caller}"
        )
