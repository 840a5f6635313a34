"""Roles and grants: pure functions from a role and a meeting's overrides to what one may do."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from meetmesh.meeting.v1 import meeting_pb2

GRANTS = ("publish", "subscribe", "chat", "record", "moderate")

# Role names as stored; the proto enum names are "ROLE_" + upper().
HOST, CO_HOST, PARTICIPANT, VIEWER = "host", "co_host", "participant", "viewer"
ROLE_TO_PROTO = {
    HOST: meeting_pb2.ROLE_HOST,
    CO_HOST: meeting_pb2.ROLE_CO_HOST,
    PARTICIPANT: meeting_pb2.ROLE_PARTICIPANT,
    VIEWER: meeting_pb2.ROLE_VIEWER,
}
PROTO_TO_ROLE = {v: k for k, v in ROLE_TO_PROTO.items()}

DEFAULTS: dict[str, frozenset[str]] = {
    HOST: frozenset(GRANTS),
    CO_HOST: frozenset(GRANTS),
    PARTICIPANT: frozenset({"publish", "subscribe", "chat"}),
    VIEWER: frozenset({"subscribe", "chat"}),
}


def effective(role: str, overrides: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The grants of ``role`` in a meeting with ``overrides`` (the host always has all)."""
    if role == HOST:
        return DEFAULTS[HOST]
    if role in overrides:
        return frozenset(overrides[role])
    return DEFAULTS.get(role, frozenset())


def to_proto(grants: Iterable[str]) -> meeting_pb2.Grants:
    held = set(grants)
    return meeting_pb2.Grants(**{g: g in held for g in GRANTS})


def from_proto(grants: meeting_pb2.Grants) -> frozenset[str]:
    return frozenset(g for g in GRANTS if getattr(grants, g))


def parse_overrides(stored: str) -> dict[str, frozenset[str]]:
    data = json.loads(stored or "{}")
    return {role: frozenset(grants) for role, grants in data.items()}


def dump_overrides(role_grants: Iterable[meeting_pb2.RoleGrants]) -> str:
    data = {PROTO_TO_ROLE[rg.role]: sorted(from_proto(rg.grants)) for rg in role_grants}
    return json.dumps(data, sort_keys=True)


def overrides_to_proto(overrides: Mapping[str, Iterable[str]]) -> list[meeting_pb2.RoleGrants]:
    return [
        meeting_pb2.RoleGrants(role=ROLE_TO_PROTO[role], grants=to_proto(grants))
        for role, grants in sorted(overrides.items(), key=lambda kv: ROLE_TO_PROTO[kv[0]])
    ]


def bypasses_lobby(role: str) -> bool:
    return role in (HOST, CO_HOST)
