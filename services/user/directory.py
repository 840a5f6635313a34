"""The internal UserDirectoryService: notification asks for a recipient it has not heard of yet
(the user's events are on another stream and may arrive after the meeting's)."""

from __future__ import annotations

from meetmesh.user.internal.v1 import directory_grpc, directory_pb2
from services.kit import NotFound
from services.kit.handlers import unary

from .api import normalize_email
from .convert import user_message
from .store import UserStore


class UserDirectory(directory_grpc.UserDirectoryServiceBase):
    def __init__(self, store: UserStore) -> None:
        self.store = store

    @unary
    async def LookupUser(self, request: directory_pb2.LookupUserRequest) -> directory_pb2.LookupUserResponse:
        if request.WhichOneof("key") == "email":
            row = await self.store.by_email(normalize_email(request.email))
        else:
            row = await self.store.by_id(request.user)
        if row is None:
            raise NotFound("no such user")  # the key itself may be personal data: not echoed
        user = user_message(row)
        return directory_pb2.LookupUserResponse(
            user=row.id, email=row.email, display_name=row.display_name, state=user.state, role=user.role
        )
