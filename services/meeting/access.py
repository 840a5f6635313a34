"""Who may do what in a meeting, beyond the contract's method options.

* Roles and grants: pure functions from a role and a meeting's overrides to what one may do.
* :class:`MeetingAccess`: the caller's standing in a meeting (host, participant, invitee, or
  nobody: NOT_FOUND, as if the meeting did not exist), and the grant the method's contract names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from meetmesh.meeting.v1 import meeting_pb2
from services.kit import NotFound, PermissionDenied, Principal, current_policy

from .cache import MeetingCache
from .directory import UserDirectory
from .models import MeetingRow, ParticipantRow
from .store import ADMITTED, DENIED, LEFT, REMOVED, MeetingStore

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


#: Roles that go straight in where the meeting has a lobby.
LOBBY_BYPASS = (HOST, CO_HOST)
#: The name of a participant who gives none and has none on record.
GUEST_NAME = "Guest"


def bypasses_lobby(role: str) -> bool:
    return role in LOBBY_BYPASS


@dataclass(frozen=True)
class Access:
    """What the caller is to a meeting."""

    meeting: MeetingRow
    participant: ParticipantRow | None
    grants: frozenset[str]

    def is_participant(self, user_id: str) -> bool:
        """The host, or someone admitted now or before (attachments are theirs only)."""
        if self.meeting.host_user_id == user_id:
            return True
        return self.participant is not None and self.participant.state in (ADMITTED, LEFT)


def require_grant(access: Access) -> None:
    """The caller must hold the grant the method's contract names (`access.grant`)."""
    grant = current_policy().grant
    if grant and grant not in access.grants:
        raise PermissionDenied(f"this needs the {grant!r} grant in the meeting")


class MeetingAccess:
    """Resolves a caller's standing in a meeting from the cache, the store and the user directory."""

    def __init__(self, cache: MeetingCache, store: MeetingStore, directory: UserDirectory) -> None:
        self.cache = cache
        self.store = store
        self.directory = directory

    async def of(self, meeting_id: str, caller: Principal) -> Access:
        """The caller's standing in a meeting; NOT_FOUND when the caller may not see it."""
        meeting, participant = await self.cache.get(meeting_id, caller.user_id)
        if meeting is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        if meeting.host_user_id == caller.user_id:
            return Access(meeting, participant, DEFAULTS[HOST])
        if participant is not None:
            held = (
                frozenset()
                if participant.state in (DENIED, REMOVED)
                else effective(participant.role, parse_overrides(meeting.role_grants))
            )
            return Access(meeting, participant, held)
        email = await self.directory.email_of(caller)
        if email and await self.store.is_invited(meeting_id, email):
            return Access(meeting, None, frozenset())
        raise NotFound(f"meetings/{meeting_id} does not exist")
