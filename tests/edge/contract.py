"""What the contract itself says, read straight from a descriptor set (the oracle the edge's tests
compare the generated documents and the edge's behaviour with)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2

from meetmesh.options.v1 import options_pb2

#: What the user service's contract declares anonymous (a check on the reading below).
USER_ANONYMOUS = {
    f"/meetmesh.user.v1.UserService/{m}" for m in ("Register", "Login", "RefreshSession", "Logout")
}


def token_free_methods(descriptor_set: Path) -> set[str]:
    """Methods whose calls carry no access token: anonymous ones, and participant methods whose join
    token travels in the stream."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    out = set()
    for fdp in fds.file:
        for svc in fdp.service:
            for method in svc.method:
                access = method.options.Extensions[options_pb2.access]
                if access.caller == options_pb2.CALLER_ANONYMOUS or access.join_token_in_stream:
                    out.add(f"/{fdp.package}.{svc.name}/{method.name}")
    assert out >= USER_ANONYMOUS
    return out
