"""The UserService RPC methods."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from meetmesh.user.events.v1 import events_pb2 as ev
from meetmesh.user.v1 import user_grpc, user_pb2
from services.kit import (
    FailedPrecondition,
    FailureThrottle,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Principal,
    TokenService,
    Unauthenticated,
    Unavailable,
    client_address,
    current_principal,
)
from services.kit.errors import Reason
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.masks import mask_paths
from services.kit.objects import ObjectStore
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.passwords import Secrets
from services.kit.timestamps import from_epoch, to_timestamp, utcnow

from . import avatars
from .config import UserSettings
from .convert import ROLE_NAMES, user_message
from .models import UserRow
from .sessions import RefreshTokens
from .store import UserStore

log = get_logger("meetmesh.user")

_BAD_LOGIN = "email or password is incorrect"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _user_id(name: str, caller: Principal) -> str:
    user_id = name.removeprefix("users/")
    return caller.user_id if user_id == "me" else user_id


class UserService(user_grpc.UserServiceBase):
    def __init__(
        self,
        settings: UserSettings,
        store: UserStore,
        tokens: TokenService,
        refresh: RefreshTokens,
        *,
        account_throttle: FailureThrottle,
        peer_throttle: FailureThrottle,
        objects: ObjectStore | None = None,
    ) -> None:
        self.settings = settings
        self.objects = objects
        self.store = store
        self.tokens = tokens
        self.refresh = refresh
        self.account_throttle = account_throttle
        self.peer_throttle = peer_throttle
        opts = settings.user
        self.passwords = Secrets(
            time_cost=opts.argon2_time_cost,
            memory_kib=opts.argon2_memory_kib,
            parallelism=opts.argon2_parallelism,
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self._dummy_hash = self.passwords.hash_now("meetmesh-timing-equaliser")

    def _user(self, row: UserRow) -> user_pb2.User:
        return user_message(row, self.objects)

    async def _tokens(self, row: UserRow, issued_family: str, refresh_token: str, refresh_exp: float) -> Any:
        access, access_exp = self.tokens.issue_access(
            user_id=row.id, role=row.role, session_id=issued_family, ttl_s=self.settings.access_token_ttl_s
        )
        return user_pb2.SessionTokens(
            access_token=access,
            access_token_expire_time=from_epoch(access_exp),
            refresh_token=refresh_token,
            refresh_token_expire_time=from_epoch(refresh_exp),
        )

    @unary
    async def Register(self, request: user_pb2.RegisterRequest) -> user_pb2.RegisterResponse:
        password_hash = await self.passwords.hash(request.password)
        row = await self.store.create(
            email=normalize_email(request.email),
            password_hash=password_hash,
            display_name=request.display_name.strip(),
        )
        log.info("account registered", extra={"user_id": row.id})
        return user_pb2.RegisterResponse(user=self._user(row))

    @unary
    async def Login(self, request: user_pb2.LoginRequest) -> user_pb2.LoginResponse:
        email = normalize_email(request.email)
        account_key = "acct:" + hashlib.sha256(email.encode()).hexdigest()
        peer_key = "peer:" + (client_address() or "unknown")
        await self.account_throttle.check([account_key], "too many failed logins; try again later")
        await self.peer_throttle.check([peer_key], "too many failed logins; try again later")
        row = await self.store.by_email(email)
        ok = await self.passwords.verify(row.password_hash if row else self._dummy_hash, request.password)
        if row is None or not ok or row.state != "active":
            await self.account_throttle.failed([account_key])
            await self.peer_throttle.failed([peer_key])
            log.info("login failed", extra={"peer": peer_key})
            raise Unauthenticated(_BAD_LOGIN, reason=Reason.ERROR_REASON_INVALID_CREDENTIALS)
        await self.account_throttle.reset([account_key])
        if self.passwords.needs_rehash(row.password_hash):
            await self.store.update(row.id, password_hash=await self.passwords.hash(request.password))
        issued = await self.refresh.start(row.id)
        tokens = await self._tokens(row, issued.family, issued.token, issued.expires_at)
        # A security notice ("new sign-in") goes out through the outbox.
        await self.store.record(row.id, signed_in=ev.SignedIn(client_address=client_address() or ""))
        log.info("login", extra={"user_id": row.id, "session": issued.family})
        return user_pb2.LoginResponse(user=self._user(row), tokens=tokens)

    @unary
    async def RefreshSession(
        self, request: user_pb2.RefreshSessionRequest
    ) -> user_pb2.RefreshSessionResponse:
        user_id, issued = await self.refresh.rotate(request.refresh_token)
        row = await self.store.by_id(user_id)
        if row is None or row.state != "active":
            await self.refresh.revoke_family(issued.family)
            raise Unauthenticated("the account is not active", reason=Reason.ERROR_REASON_ACCOUNT_DISABLED)
        tokens = await self._tokens(row, issued.family, issued.token, issued.expires_at)
        return user_pb2.RefreshSessionResponse(tokens=tokens)

    @unary
    async def RequestPasswordReset(
        self, request: user_pb2.RequestPasswordResetRequest
    ) -> user_pb2.RequestPasswordResetResponse:
        # The same empty answer whether or not the address has an account.
        row = await self.store.by_email(normalize_email(request.email))
        if row is not None and row.state == "active":
            ttl = timedelta(seconds=self.settings.user.password_reset_ttl_s)
            await self.store.start_password_reset(row, secrets.token_urlsafe(32), ttl)
            log.info("password reset requested", extra={"user_id": row.id})
        return user_pb2.RequestPasswordResetResponse()

    @unary
    async def ResetPassword(self, request: user_pb2.ResetPasswordRequest) -> user_pb2.ResetPasswordResponse:
        password_hash = await self.passwords.hash(request.new_password)
        user_id = await self.store.spend_password_reset(request.token, password_hash)
        if user_id is None:
            raise Unauthenticated(
                "the reset token is invalid, spent or expired", reason=Reason.ERROR_REASON_INVALID_TOKEN
            )
        await self.refresh.revoke_user(user_id)  # every session of the account ends
        log.info("password reset", extra={"user_id": user_id})
        return user_pb2.ResetPasswordResponse()

    @unary
    async def Logout(self, request: user_pb2.LogoutRequest) -> user_pb2.LogoutResponse:
        family = await self.refresh.family_of(request.refresh_token)
        if family is None:
            raise Unauthenticated("the refresh token is invalid", reason=Reason.ERROR_REASON_INVALID_TOKEN)
        await self.refresh.revoke_family(family)
        log.info("logout", extra={"session": family})
        return user_pb2.LogoutResponse()

    @unary
    async def GetUser(self, request: user_pb2.GetUserRequest) -> user_pb2.GetUserResponse:
        caller = current_principal()
        user_id = _user_id(request.name, caller)
        if user_id != caller.user_id and not caller.is_admin:
            raise PermissionDenied("members can read only their own account")
        row = await self.store.by_id(user_id)
        if row is None:
            raise NotFound(f"users/{user_id} does not exist")
        return user_pb2.GetUserResponse(user=self._user(row))

    @unary
    async def UpdateUser(self, request: user_pb2.UpdateUserRequest) -> user_pb2.UpdateUserResponse:
        caller = current_principal()
        user_id = _user_id(request.user.name or "users/me", caller)
        if user_id != caller.user_id:
            raise PermissionDenied("only the account's owner can update its profile")
        paths = mask_paths(request.update_mask, {"display_name", "avatar_uri"}, empty_means_all=True)
        values: dict[str, Any] = {}
        if "display_name" in paths:
            name = request.user.display_name.strip()
            if not name:
                raise InvalidArgument([("user.display_name", "must not be empty")])
            values["display_name"] = name
        replaced = ""
        if "avatar_uri" in paths:
            values["avatar_uri"] = request.user.avatar_uri
            values["avatar_key"] = ""  # an external URL (or none) replaces an uploaded avatar
            before = await self.store.by_id(user_id)
            replaced = before.avatar_key if before is not None else ""
        row = await self.store.update(user_id, **values)
        if row is None:
            raise NotFound(f"users/{user_id} does not exist")
        if replaced and self.objects is not None:
            await _quietly(self.objects.delete_prefix(replaced))
        return user_pb2.UpdateUserResponse(user=self._user(row))

    @unary
    async def ListUsers(self, request: user_pb2.ListUsersRequest) -> user_pb2.ListUsersResponse:
        caller = current_principal()
        if not caller.is_admin:
            raise PermissionDenied("only admins can list users")
        size = page_size(request.page_size)
        params = {"m": "ListUsers"}
        rows = await self.store.page(decode_keyset(request.page_token, params), size + 1)
        rows, next_token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return user_pb2.ListUsersResponse(users=[self._user(r) for r in rows], next_page_token=next_token)

    @unary
    async def DisableUser(self, request: user_pb2.DisableUserRequest) -> user_pb2.DisableUserResponse:
        caller = current_principal()
        if not caller.is_admin:
            raise PermissionDenied("only admins can disable users")
        user_id = _user_id(request.name, caller)
        row = await self.store.update(user_id, state="disabled")
        if row is None:
            raise NotFound(f"users/{user_id} does not exist")
        await self.refresh.revoke_user(user_id)
        log.info("account disabled", extra={"user_id": user_id, "by": caller.user_id})
        return user_pb2.DisableUserResponse(user=self._user(row))

    @unary
    async def SetUserRole(self, request: user_pb2.SetUserRoleRequest) -> user_pb2.SetUserRoleResponse:
        caller = current_principal()
        if not caller.is_admin:
            raise PermissionDenied("only admins can change roles")
        user_id = _user_id(request.name, caller)
        if user_id == caller.user_id:
            raise FailedPrecondition("admins cannot change their own role")
        role = ROLE_NAMES[request.role]
        before = await self.store.by_id(user_id)
        if before is None:
            raise NotFound(f"users/{user_id} does not exist")
        row = await self.store.update(user_id, role=role)
        if row is None:
            raise NotFound(f"users/{user_id} does not exist")
        if before.role == "admin" and role != "admin":
            await self.refresh.revoke_user(user_id)  # its admin access tokens stop working now
        log.info("role changed", extra={"user_id": user_id, "role": role, "by": caller.user_id})
        return user_pb2.SetUserRoleResponse(user=self._user(row))

    # -- avatars -------------------------------------------------------------------------------------
    def _objects(self) -> ObjectStore:
        if self.objects is None:
            raise Unavailable("no object store is configured")
        return self.objects

    @unary
    async def CreateAvatarUpload(
        self, request: user_pb2.CreateAvatarUploadRequest
    ) -> user_pb2.CreateAvatarUploadResponse:
        caller = current_principal()
        if _user_id(request.parent, caller) != caller.user_id:
            raise PermissionDenied("only the account's owner can upload its avatar")
        # protovalidate has checked the type and the 5 MiB bound; the settings may be stricter.
        limit = self.settings.user.avatar_max_bytes
        if request.size_bytes > limit:
            raise InvalidArgument([("size_bytes", f"must be at most {limit} bytes")])
        objects = self._objects()
        upload = uuid.uuid4().hex
        key = f"avatars/{caller.user_id}/uploads/{upload}"
        uri = objects.presign_put(key, request.content_type, request.size_bytes, caller.user_id)
        expires = utcnow() + timedelta(seconds=self.settings.objects.url_ttl_s)
        log.info("avatar upload started", extra={"user_id": caller.user_id, "upload": upload})
        return user_pb2.CreateAvatarUploadResponse(
            upload=f"users/{caller.user_id}/avatarUploads/{upload}",
            upload_uri=uri,
            expire_time=to_timestamp(expires),
        )

    @unary
    async def CommitAvatar(self, request: user_pb2.CommitAvatarRequest) -> user_pb2.CommitAvatarResponse:
        caller = current_principal()
        _, owner, _, upload = request.name.split("/")
        if (caller.user_id if owner == "me" else owner) != caller.user_id:
            raise PermissionDenied("only the account's owner can set its avatar")
        objects = self._objects()
        key = f"avatars/{caller.user_id}/uploads/{upload}"
        info = await objects.stat(key)
        if info is None:
            raise NotFound(f"{request.name} has no uploaded image (PUT it to the upload URL first)")
        limit = self.settings.user.avatar_max_bytes
        if info.size > limit:
            await objects.delete(key)
            raise InvalidArgument([("name", f"the uploaded image is larger than {limit} bytes")])
        data = await objects.get_bytes(key)
        try:
            made = avatars.thumbnails(data)
        except avatars.NotAnImage as exc:
            await objects.delete(key)
            raise InvalidArgument([("name", f"the uploaded file {exc}")]) from None
        prefix = f"avatars/{caller.user_id}/{uuid.uuid4().hex}/"
        try:
            for size, png in made.items():
                await objects.put_bytes(f"{prefix}{size}.png", png, avatars.THUMBNAIL_TYPE)
        except BaseException:
            await _quietly(objects.delete_prefix(prefix))
            raise
        before = await self.store.by_id(caller.user_id)
        row = await self.store.update(caller.user_id, avatar_key=prefix, avatar_uri="")
        if row is None:
            await _quietly(objects.delete_prefix(prefix))
            raise NotFound(f"users/{caller.user_id} does not exist")
        await _quietly(objects.delete_prefix(f"avatars/{caller.user_id}/uploads/"))
        if before is not None and before.avatar_key:
            await _quietly(objects.delete_prefix(before.avatar_key))
        log.info("avatar set", extra={"user_id": caller.user_id})
        return user_pb2.CommitAvatarResponse(user=self._user(row))


async def _quietly(cleanup: Any) -> None:
    """Tidying that may fail (the store went away meanwhile): the answer does not depend on it."""
    try:
        await cleanup
    except Exception as exc:
        log.warning("object cleanup failed", extra={"error": type(exc).__name__})
