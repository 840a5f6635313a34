"""``meetmesh login|logout|whoami`` and ``meetmesh admin users ...``."""

from __future__ import annotations

import sys

import click
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_pb2

from .app import (
    as_json,
    async_command,
    command,
    enum_word,
    example,
    fields,
    group,
    options,
    print_json,
    resource,
    run,
    table,
    when,
)
from .config import check_server
from .errors import from_grpc
from .session import Session, credentials_from


@command()
@click.option("--email", help="the account's email (prompted for when not given)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin (for scripts)")
@example(
    "meetmesh login",
    "meetmesh login --server https://meet.example.com --profile work",
    'echo "$PASSWORD" | meetmesh login --email ada@example.com --password-stdin',
)
def login(email: str | None, password_stdin: bool, json_output: bool = False) -> None:
    """Log in: prompts for email and password and saves the session's tokens (owner-only)."""
    opts = options()
    if opts.server:
        check_server(opts.server)
    email = email or click.prompt("Email")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)

    async def body(session: Session) -> None:
        try:
            reply = await session.users.Login(user_pb2.LoginRequest(email=email, password=password))
        except GRPCError as exc:
            raise from_grpc(exc, "login failed") from exc
        session.remember(credentials_from(session.server, reply.user, reply.tokens))
        if opts.server:
            session.config.save_server(opts.profile, session.server)
        if opts.json:
            print_json({"user": reply.user.name, "email": reply.user.email, "server": session.server,
                        "profile": opts.profile})  # fmt: skip
        else:
            click.echo(f"Logged in to {session.server} as {reply.user.email} (profile {opts.profile}).")

    run(body)


@command()
@example("meetmesh logout", "meetmesh logout --profile work")
@async_command
async def logout(session: Session) -> None:
    """Log out: revokes the session on the server and forgets its tokens."""
    saved = session.saved()
    if saved is None:
        click.echo(f"not logged in (profile {session.profile})")
        return
    try:
        await session.users.Logout(user_pb2.LogoutRequest(refresh_token=saved.refresh_token))
    except GRPCError as exc:
        if exc.status is not Status.UNAUTHENTICATED:  # an expired session is as good as logged out
            raise
    finally:
        session.config.forget_credentials(session.profile)
    click.echo(f"Logged out of {saved.server} (profile {session.profile}).")


def _user_record(user: user_pb2.User) -> list[tuple[str, str]]:
    return [
        ("name", user.name),
        ("email", user.email),
        ("display name", user.display_name),
        ("role", enum_word(user, "role")),
        ("state", enum_word(user, "state")),
        ("created", when(user.create_time)),
    ]


@command()
@example("meetmesh whoami", "meetmesh whoami --json | jq -r .user.email")
@async_command
async def whoami(session: Session) -> None:
    """Show who the saved login is, on which server."""
    reply = await session.call(session.users.GetUser, user_pb2.GetUserRequest(name="users/me"))
    if options().json:
        print_json({"user": as_json(reply.user), "server": session.server, "profile": session.profile})
        return
    fields([*_user_record(reply.user), ("server", session.server), ("profile", session.profile)])


@group()
@example("meetmesh admin users list", "meetmesh admin users disable users/123")
def admin() -> None:
    """Administration (admins only)."""


@admin.group()
@example("meetmesh admin users list --page-size 20")
def users() -> None:
    """Accounts: list, disable, promote, demote."""


@users.command("list")
@click.option("--page-size", type=int, default=50, show_default=True)
@click.option("--page-token", default="", help="a next page token from an earlier list")
@example("meetmesh admin users list", "meetmesh admin users list --json | jq -r '.users[].email'")
@async_command
async def list_users(session: Session, page_size: int, page_token: str) -> None:
    """List accounts, newest first."""
    reply = await session.call(
        session.users.ListUsers, user_pb2.ListUsersRequest(page_size=page_size, page_token=page_token)
    )
    if options().json:
        print_json(reply)
        return
    table(
        ["name", "email", "display name", "role", "state", "created"],
        [[v for _, v in _user_record(u)] for u in reply.users],
    )
    if reply.next_page_token:
        click.echo(f"more: --page-token {reply.next_page_token}")


@users.command()
@click.argument("user")
@example("meetmesh admin users disable users/0f6c2d")
@async_command
async def disable(session: Session, user: str) -> None:
    """Disable an account and revoke its sessions."""
    reply = await session.call(
        session.users.DisableUser, user_pb2.DisableUserRequest(name=resource("users", user))
    )
    if options().json:
        print_json(reply)
        return
    click.echo(f"disabled {reply.user.name}")


async def _set_role(session: Session, user: str, role: user_pb2.User.Role) -> None:
    reply = await session.call(
        session.users.SetUserRole, user_pb2.SetUserRoleRequest(name=resource("users", user), role=role)
    )
    if options().json:
        print_json(reply)
        return
    click.echo(f"{reply.user.name} is now {enum_word(reply.user, 'role')}")


@users.command()
@click.argument("user")
@example("meetmesh admin users promote users/0f6c2d")
@async_command
async def promote(session: Session, user: str) -> None:
    """Make an account an admin (it gets the role with its next access token)."""
    await _set_role(session, user, user_pb2.User.ROLE_ADMIN)


@users.command()
@click.argument("user")
@example("meetmesh admin users demote users/0f6c2d")
@async_command
async def demote(session: Session, user: str) -> None:
    """Make an admin an ordinary member again (its sessions end at once)."""
    await _set_role(session, user, user_pb2.User.ROLE_MEMBER)
