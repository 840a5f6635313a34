"""The user service over real gRPC: registration, login, sessions, profiles, admin."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_pb2
from services.user.store import UserStore
from tests.support import PASSWORD, Platform, error_info, field_violations, retry_delay


async def test_register_login_and_read_own_profile(platform: Platform) -> None:
    client = await platform.client("Ada Lovelace")
    assert client.user.display_name == "Ada Lovelace"
    assert client.user.role == user_pb2.User.ROLE_MEMBER
    assert client.user.state == user_pb2.User.STATE_ACTIVE
    me = await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=client.metadata)
    assert me.user.name == client.user.name
    assert me.user.email == client.email
    claims = jwt.decode(client.tokens.access_token, options={"verify_signature": False})
    assert claims["sub"] == client.user_id and claims["typ"] == "access"
    assert client.tokens.access_token_expire_time.seconds > time.time()


async def test_duplicate_email_is_already_exists_case_insensitively(platform: Platform) -> None:
    await platform.register(email="dup@example.test")
    with pytest.raises(GRPCError) as err:
        await platform.register(email="DUP@Example.test")
    assert err.value.status == Status.ALREADY_EXISTS
    assert error_info(err.value).reason == "ALREADY_EXISTS"


async def test_invalid_registration_lists_every_bad_field(platform: Platform) -> None:
    with pytest.raises(GRPCError) as err:
        await platform.users.Register(
            user_pb2.RegisterRequest(email="not-an-email", password="short", display_name="")
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert set(violations) == {"email", "password", "display_name"}
    assert error_info(err.value).reason == "INVALID_FIELD"
    # Nothing was stored.
    assert await UserStore(platform.runtime.database("user")).by_email("not-an-email") is None


async def test_wrong_password_and_unknown_email_answer_the_same(platform: Platform) -> None:
    user_email = "known@example.test"
    await platform.register(email=user_email)
    answers = []
    for email, password in ((user_email, "wrong password!"), ("nobody@example.test", PASSWORD)):
        with pytest.raises(GRPCError) as err:
            await platform.login(email, password)
        answers.append((err.value.status, err.value.message, error_info(err.value).reason))
    assert (
        answers[0]
        == answers[1]
        == (Status.UNAUTHENTICATED, "email or password is incorrect", "INVALID_CREDENTIALS")
    )


async def test_repeated_failed_logins_are_throttled_per_account(platform: Platform) -> None:
    email = "target@example.test"
    await platform.register(email=email)
    limit = platform.settings.user.login_failures_per_account
    for _ in range(limit):
        with pytest.raises(GRPCError) as err:
            await platform.login(email, "wrong password!")
        assert err.value.status == Status.UNAUTHENTICATED
    # Now even the right password is refused for a while.
    with pytest.raises(GRPCError) as err:
        await platform.login(email)
    assert err.value.status == Status.RESOURCE_EXHAUSTED
    assert retry_delay(err.value) > 0
    # Another account from the same peer is still fine (the peer limit is higher).
    other = await platform.client()
    assert other.tokens.access_token


async def test_repeated_failed_logins_are_throttled_per_peer(platform: Platform) -> None:
    limit = platform.settings.user.login_failures_per_peer
    for i in range(limit):
        with pytest.raises(GRPCError):
            await platform.login(f"nobody{i}@example.test", "wrong password!")
    with pytest.raises(GRPCError) as err:
        await platform.login("someone-else@example.test", "wrong password!")
    assert err.value.status == Status.RESOURCE_EXHAUSTED


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(platform: Platform) -> None:
    """A client claiming a new `x-forwarded-for` per attempt is still one peer (issue 11): only
    configured proxies (the edge) may say whom they forward for, and none is configured here."""
    limit = platform.settings.user.login_failures_per_peer
    for i in range(limit):
        with pytest.raises(GRPCError) as err:
            await platform.users.Login(
                user_pb2.LoginRequest(email=f"spray{i}@example.test", password="wrong password!"),
                metadata={"x-forwarded-for": f"203.0.113.{i}"},
            )
        assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.users.Login(
            user_pb2.LoginRequest(email="spray-last@example.test", password="wrong password!"),
            metadata={"x-forwarded-for": "198.51.100.1"},
        )
    assert err.value.status == Status.RESOURCE_EXHAUSTED


async def test_the_account_throttle_ignores_the_address(platform: Platform) -> None:
    email = "rotating@example.test"
    await platform.register(email=email)
    for i in range(platform.settings.user.login_failures_per_account):
        with pytest.raises(GRPCError):
            await platform.users.Login(
                user_pb2.LoginRequest(email=email, password="wrong password!"),
                metadata={"x-forwarded-for": f"203.0.113.{i}"},
            )
    with pytest.raises(GRPCError) as err:
        await platform.users.Login(
            user_pb2.LoginRequest(email=email, password=PASSWORD), metadata={"x-forwarded-for": "192.0.2.9"}
        )
    assert err.value.status == Status.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    "avatar",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "http://img.example/a.png",
        "https://user:pw@img.example/a.png",
        "ftp://img.example/a.png",
    ],
)
async def test_unsafe_avatar_uris_are_refused(platform: Platform, avatar: str) -> None:
    client = await platform.client()
    with pytest.raises(GRPCError) as err:
        await platform.users.UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(name="users/me", avatar_uri=avatar), update_mask={"paths": ["avatar_uri"]}
            ),
            metadata=client.metadata,
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    assert "user.avatar_uri" in field_violations(err.value)
    me = await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=client.metadata)
    assert me.user.avatar_uri == ""


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(platform: Platform) -> None:
    client = await platform.client()
    first = client.tokens
    second = (
        await platform.users.RefreshSession(user_pb2.RefreshSessionRequest(refresh_token=first.refresh_token))
    ).tokens
    assert second.refresh_token != first.refresh_token
    third = (
        await platform.users.RefreshSession(
            user_pb2.RefreshSessionRequest(refresh_token=second.refresh_token)
        )
    ).tokens
    # The current access token works...
    md = {"authorization": f"Bearer {third.access_token}"}
    await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=md)
    # ...until a rotated token is presented again (it leaked): the family is revoked.
    with pytest.raises(GRPCError) as err:
        await platform.users.RefreshSession(user_pb2.RefreshSessionRequest(refresh_token=first.refresh_token))
    assert err.value.status == Status.UNAUTHENTICATED
    assert error_info(err.value).reason == "REFRESH_TOKEN_REUSED"
    with pytest.raises(GRPCError) as err:
        await platform.users.RefreshSession(user_pb2.RefreshSessionRequest(refresh_token=third.refresh_token))
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=md)
    assert err.value.status == Status.UNAUTHENTICATED


async def test_concurrent_refreshes_with_one_token_yield_at_most_one_success(platform: Platform) -> None:
    client = await platform.client()
    request = user_pb2.RefreshSessionRequest(refresh_token=client.tokens.refresh_token)
    results = await asyncio.gather(
        *(platform.users.RefreshSession(request) for _ in range(5)), return_exceptions=True
    )
    successes = [r for r in results if not isinstance(r, BaseException)]
    assert len(successes) <= 1
    assert all(
        isinstance(r, GRPCError) and r.status == Status.UNAUTHENTICATED for r in results if r not in successes
    )


async def test_logout_revokes_refresh_and_access_tokens(platform: Platform) -> None:
    client = await platform.client()
    await platform.users.Logout(user_pb2.LogoutRequest(refresh_token=client.tokens.refresh_token))
    with pytest.raises(GRPCError) as err:
        await platform.users.RefreshSession(
            user_pb2.RefreshSessionRequest(refresh_token=client.tokens.refresh_token)
        )
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=client.metadata)
    assert err.value.status == Status.UNAUTHENTICATED
    # Other sessions of the same account are unaffected.
    again = await platform.login(client.email)
    md = {"authorization": f"Bearer {again.tokens.access_token}"}
    await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=md)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({}, "MISSING_CREDENTIALS"),
        ({"authorization": "Basic abc"}, "INVALID_TOKEN"),
        ({"authorization": "Bearer not.a.jwt"}, "INVALID_TOKEN"),
        ({"authorization": "Bearer "}, "INVALID_TOKEN"),
    ],
)
async def test_missing_or_malformed_tokens_are_unauthenticated(
    platform: Platform, metadata: dict[str, str], reason: str
) -> None:
    with pytest.raises(GRPCError) as err:
        await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=metadata)
    assert err.value.status == Status.UNAUTHENTICATED
    assert error_info(err.value).reason == reason


async def test_expired_and_wrongly_signed_tokens_are_unauthenticated(platform: Platform) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    client = await platform.client()
    tokens = platform.runtime.tokens
    expired, _ = tokens.issue_access(user_id=client.user_id, role="member", session_id="s", ttl_s=-60)
    claims = jwt.decode(client.tokens.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    for token, reason in ((expired, "TOKEN_EXPIRED"), (forged, "INVALID_TOKEN")):
        with pytest.raises(GRPCError) as err:
            await platform.users.GetUser(
                user_pb2.GetUserRequest(name="users/me"), metadata={"authorization": f"Bearer {token}"}
            )
        assert err.value.status == Status.UNAUTHENTICATED
        assert error_info(err.value).reason == reason


async def test_update_profile_with_field_mask(platform: Platform) -> None:
    client = await platform.client("Old Name")
    reply = await platform.users.UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(
                name="users/me", display_name="New Name", avatar_uri="https://img.example/a.png"
            ),
            update_mask=FieldMask(paths=["display_name"]),
        ),
        metadata=client.metadata,
    )
    assert reply.user.display_name == "New Name"
    assert reply.user.avatar_uri == ""  # not in the mask
    with pytest.raises(GRPCError) as err:
        await platform.users.UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(name="users/me"), update_mask=FieldMask(paths=["email"])
            ),
            metadata=client.metadata,
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    assert "update_mask" in field_violations(err.value)


async def test_members_cannot_read_or_update_others(platform: Platform) -> None:
    alice = await platform.client()
    bob = await platform.client()
    for call in (
        platform.users.GetUser(user_pb2.GetUserRequest(name=bob.user.name), metadata=alice.metadata),
        platform.users.UpdateUser(
            user_pb2.UpdateUserRequest(user=user_pb2.User(name=bob.user.name, display_name="Hacked")),
            metadata=alice.metadata,
        ),
        platform.users.ListUsers(user_pb2.ListUsersRequest(), metadata=alice.metadata),
        platform.users.DisableUser(user_pb2.DisableUserRequest(name=bob.user.name), metadata=alice.metadata),
    ):
        with pytest.raises(GRPCError) as err:
            await call
        assert err.value.status == Status.PERMISSION_DENIED
    me = await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=bob.metadata)
    assert me.user.display_name == "Test User"
    assert me.user.state == user_pb2.User.STATE_ACTIVE


async def _admin(platform: Platform):  # type: ignore[no-untyped-def]
    admin = await platform.client("Admin")
    assert await UserStore(platform.runtime.database("user")).set_role(admin.email, "admin")
    login = await platform.login(admin.email)
    admin.tokens = login.tokens
    return admin


async def test_admin_lists_users_with_pagination(platform: Platform) -> None:
    admin = await _admin(platform)
    for i in range(6):
        await platform.register(f"User {i}")
    seen: list[str] = []
    token = ""
    while True:
        page = await platform.users.ListUsers(
            user_pb2.ListUsersRequest(page_size=3, page_token=token), metadata=admin.metadata
        )
        assert len(page.users) <= 3
        seen += [u.name for u in page.users]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 7
    with pytest.raises(GRPCError) as err:
        await platform.users.ListUsers(
            user_pb2.ListUsersRequest(page_token="garbage!"), metadata=admin.metadata
        )
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_admin_disables_user_which_ends_their_sessions(platform: Platform) -> None:
    admin = await _admin(platform)
    victim = await platform.client()
    reply = await platform.users.DisableUser(
        user_pb2.DisableUserRequest(name=victim.user.name), metadata=admin.metadata
    )
    assert reply.user.state == user_pb2.User.STATE_DISABLED
    with pytest.raises(GRPCError) as err:
        await platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=victim.metadata)
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.users.RefreshSession(
            user_pb2.RefreshSessionRequest(refresh_token=victim.tokens.refresh_token)
        )
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.login(victim.email)
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as err:
        await platform.users.DisableUser(
            user_pb2.DisableUserRequest(name="users/nobody"), metadata=admin.metadata
        )
    assert err.value.status == Status.NOT_FOUND


async def test_admin_sets_roles_and_a_demotion_ends_admin_sessions(platform: Platform) -> None:
    admin = await _admin(platform)
    member = await platform.client()
    set_role = platform.users.SetUserRole
    with pytest.raises(GRPCError) as err:  # members may not
        await set_role(
            user_pb2.SetUserRoleRequest(name=admin.user.name, role=user_pb2.User.ROLE_MEMBER),
            metadata=member.metadata,
        )
    assert err.value.status == Status.PERMISSION_DENIED
    reply = await set_role(
        user_pb2.SetUserRoleRequest(name=member.user.name, role=user_pb2.User.ROLE_ADMIN),
        metadata=admin.metadata,
    )
    assert reply.user.role == user_pb2.User.ROLE_ADMIN
    # the next access token carries the role: the promoted member can list users after a refresh
    refreshed = await platform.users.RefreshSession(
        user_pb2.RefreshSessionRequest(refresh_token=member.tokens.refresh_token)
    )
    promoted = {"authorization": f"Bearer {refreshed.tokens.access_token}"}
    await platform.users.ListUsers(user_pb2.ListUsersRequest(), metadata=promoted)
    with pytest.raises(GRPCError) as err:  # nobody changes their own role
        await set_role(
            user_pb2.SetUserRoleRequest(name="users/me", role=user_pb2.User.ROLE_MEMBER),
            metadata=admin.metadata,
        )
    assert err.value.status == Status.FAILED_PRECONDITION
    for bad in (user_pb2.User.ROLE_UNSPECIFIED, 7):
        with pytest.raises(GRPCError) as err:
            await set_role(
                user_pb2.SetUserRoleRequest(name=member.user.name, role=bad), metadata=admin.metadata
            )
        assert err.value.status == Status.INVALID_ARGUMENT
        assert "role" in field_violations(err.value)
    with pytest.raises(GRPCError) as err:
        await set_role(
            user_pb2.SetUserRoleRequest(name="users/nobody", role=user_pb2.User.ROLE_ADMIN),
            metadata=admin.metadata,
        )
    assert err.value.status == Status.NOT_FOUND
    demoted = await set_role(
        user_pb2.SetUserRoleRequest(name=member.user.name, role=user_pb2.User.ROLE_MEMBER),
        metadata=admin.metadata,
    )
    assert demoted.user.role == user_pb2.User.ROLE_MEMBER
    with pytest.raises(GRPCError) as err:  # the admin token it held stops working at once
        await platform.users.ListUsers(user_pb2.ListUsersRequest(), metadata=promoted)
    assert err.value.status == Status.UNAUTHENTICATED


async def test_nul_characters_are_invalid_not_internal(platform: Platform) -> None:
    """PostgreSQL refuses U+0000 in text: a login or registration carrying one was an INTERNAL
    error (found by the edge's positive-data fuzzing); the kit refuses it for every service."""
    with pytest.raises(GRPCError) as err:
        await platform.users.Login(user_pb2.LoginRequest(email="a\x00@example.test", password="x"))
    assert err.value.status == Status.INVALID_ARGUMENT
    assert field_violations(err.value) == {"email": "must not contain U+0000"}
    with pytest.raises(GRPCError) as err:
        await platform.users.Register(
            user_pb2.RegisterRequest(email="nul@example.test", password=PASSWORD, display_name="A\x00")
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    assert "display_name" in field_violations(err.value)
