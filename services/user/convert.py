"""Conversions between the user service's rows and its protos."""

from __future__ import annotations

from meetmesh.user.v1 import user_pb2
from services.kit import optional_principal
from services.kit.objects import ObjectStore
from services.kit.timestamps import to_timestamp

from .models import UserRow

_ROLES = {"member": user_pb2.User.ROLE_MEMBER, "admin": user_pb2.User.ROLE_ADMIN}
#: ``User.Role`` -> the stored role name.
ROLE_NAMES = {value: name for name, value in _ROLES.items()}
_STATES = {"active": user_pb2.User.STATE_ACTIVE, "disabled": user_pb2.User.STATE_DISABLED}


def user_message(row: UserRow, objects: ObjectStore | None = None) -> user_pb2.User:
    """The public view of an account; an uploaded avatar gets time-limited URLs from ``objects``
    (bound, for the local store's signed URLs, to the caller)."""
    avatar_uri, thumbnail_uri = row.avatar_uri, ""
    if row.avatar_key and objects is not None:
        caller = optional_principal()
        viewer = caller.user_id if caller is not None else row.id
        avatar_uri = objects.presign_get(f"{row.avatar_key}256.png", viewer)
        thumbnail_uri = objects.presign_get(f"{row.avatar_key}64.png", viewer)
    return user_pb2.User(
        name=f"users/{row.id}",
        email=row.email,
        display_name=row.display_name,
        avatar_uri=avatar_uri,
        avatar_thumbnail_uri=thumbnail_uri,
        role=_ROLES.get(row.role, user_pb2.User.ROLE_UNSPECIFIED),
        state=_STATES.get(row.state, user_pb2.User.STATE_UNSPECIFIED),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )
