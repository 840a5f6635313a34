"""``meetmesh`` as a person and a script use it, against the live user and meeting services
behind the edge: the login prompt answered through a pseudo-terminal, tables for people, JSON
for scripts, one line and the documented exit code for each failure (docs/cli.md)."""

from __future__ import annotations

import hashlib
import json
import stat
import time

import pexpect
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_pb2
from meetmesh_sdk.cli.errors import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_PERMISSION,
    EXIT_UNAUTHENTICATED,
    EXIT_UNAVAILABLE,
)
from services.edge.app import Edge
from tests.cli.conftest import DESCRIPTORS, Cli, Mesh
from tests.edge.conftest import edge_settings
from tests.edge.harness import start_uvicorn, stop_uvicorn
from tests.support import Client, wait_until


def test_login_saves_owner_only_tokens_and_whoami_reads_them(mesh: Mesh, cli: Cli) -> None:
    person = mesh.client("Grace Hopper")
    result = cli.login(person.email)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {mesh.url} as {person.email}" in result.output
    assert "correct horse" not in result.output  # the password is not echoed
    saved = cli.credentials()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert json.loads(saved.read_text())["user"] == person.user.name

    whoami = cli("whoami")
    assert whoami.exit_code == 0, whoami.output
    assert f"email:        {person.email}" in whoami.output
    assert "display name: Grace Hopper" in whoami.output
    as_json = cli("whoami", "--json").json()
    assert as_json["user"]["name"] == person.user.name
    assert as_json["server"] == mesh.url


def test_wrong_password_is_one_line_and_exit_4(mesh: Mesh, cli: Cli) -> None:
    person = mesh.client()
    result = cli.login(person.email, "not the password at all")
    assert result.exit_code == EXIT_UNAUTHENTICATED
    error = [line for line in result.lines if line.startswith("meetmesh:")]
    assert len(error) == 1, result.output
    assert error[0].startswith("meetmesh: login failed:")
    assert "(UNAUTHENTICATED)" in error[0]
    assert not cli.credentials().exists()


def test_not_logged_in(cli: Cli) -> None:
    result = cli("meetings", "list")
    assert result.exit_code == EXIT_UNAUTHENTICATED
    assert result.lines == ["meetmesh: not logged in (profile default): run `meetmesh login`"]


def test_meetings_lifecycle(mesh: Mesh, cli: Cli, person: Client) -> None:
    created = cli(
        "meetings",
        "create",
        "--title",
        "Standup",
        "--passcode",
        "4711",
        "--start",
        "2026-12-02T09:00",
        "--json",
    )
    assert created.exit_code == 0, created.output
    meeting = created.json()["meeting"]
    name = meeting["name"]
    assert meeting["title"] == "Standup"
    assert meeting["passcodeProtected"] is True
    assert meeting["host"] == person.user.name

    table = cli("meetings", "list")
    assert table.exit_code == 0, table.output
    assert table.lines[0].split() == ["NAME", "TITLE", "STATE", "STARTS", "PARTICIPANTS"]
    assert any(line.startswith(name) and "Standup" in line for line in table.lines[1:])

    got = cli("meetings", "get", name.removeprefix("meetings/"))
    assert got.exit_code == 0, got.output
    assert "title:             Standup" in got.output
    assert "starts:            2026-12-02 09:00" in got.output

    updated = cli("meetings", "update", name, "--title", "Standup (moved)", "--lobby", "--json").json()
    assert updated["meeting"]["title"] == "Standup (moved)"
    assert updated["meeting"]["lobbyEnabled"] is True

    invited = cli("meetings", "invite", name, "grace@example.com", "alan@example.com", "--json")
    assert invited.exit_code == 0, invited.output
    assert sorted(i["email"] for i in invited.json()["invitations"]) == [
        "alan@example.com",
        "grace@example.com",
    ]

    joined = cli("meetings", "join", name, "--passcode", "4711", "--json").json()
    assert joined["participant"]["state"] == "STATE_ADMITTED"  # the host never waits
    assert joined["joinToken"]

    ended = cli("meetings", "end", name)
    assert ended.exit_code == 0, ended.output
    assert ended.lines == [f"ended {name}"]
    assert cli("meetings", "get", name, "--json").json()["meeting"]["state"] == "STATE_ENDED"


def test_participants_lobby_and_roles(mesh: Mesh, cli: Cli, person: Client) -> None:
    name = cli("meetings", "create", "--title", "Lobby", "--lobby", "--json").json()["meeting"]["name"]
    cli("meetings", "join", name)
    guests = [mesh.client(f"Guest {i}") for i in range(3)]
    waiting = [mesh.run(guest.join(name)).participant.name for guest in guests]

    listed = cli("participants", "list", name, "--state", "waiting")
    assert listed.exit_code == 0, listed.output
    assert sorted(line.split()[0] for line in listed.lines[1:]) == sorted(waiting)

    admitted = cli("participants", "admit", waiting[0])
    assert admitted.lines == [f"{waiting[0]} is now admitted"]
    meeting_id, participant_id = waiting[1].removeprefix("meetings/").split("/participants/")
    denied = cli("participants", "deny", meeting_id, participant_id)
    assert denied.lines == [f"{waiting[1]} is now denied"]
    promoted = cli("participants", "role", waiting[0], "--to", "co-host", "--json").json()
    assert promoted["participant"]["role"] == "ROLE_CO_HOST"
    removed = cli("participants", "remove", waiting[0])
    assert removed.lines == [f"{waiting[0]} is now removed"]

    states = {
        p["name"]: p["state"] for p in cli("participants", "list", name, "--json").json()["participants"]
    }
    assert states[waiting[0]] == "STATE_REMOVED"
    assert states[waiting[1]] == "STATE_DENIED"
    assert states[waiting[2]] == "STATE_WAITING"

    # a guest who is only a participant may not moderate
    other = Cli(cli.home.parent / "guest-config", mesh.url)
    assert other.login(guests[2].email).exit_code == 0
    refused = other("participants", "admit", waiting[2])
    assert refused.exit_code == EXIT_PERMISSION, refused.output
    assert len(refused.lines) == 1 and refused.lines[0].endswith("(PERMISSION_DENIED)")


def test_unknown_meeting(cli: Cli, person: Client) -> None:
    result = cli("meetings", "get", "meetings/doesnotexist")
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.lines == ["meetmesh: meetings/doesnotexist does not exist (NOT_FOUND)"]
    as_json = cli("meetings", "get", "doesnotexist", "--json")
    assert as_json.exit_code == EXIT_NOT_FOUND
    assert as_json.output == ""
    error = json.loads(as_json.errors.splitlines()[-1])["error"]
    assert error["code"] == "NOT_FOUND"
    assert error["exitCode"] == EXIT_NOT_FOUND


def test_bad_input_names_the_field(cli: Cli, person: Client) -> None:
    result = cli("meetings", "create", "--title", "   ", "--capacity", "5000")
    assert result.exit_code == EXIT_INVALID
    assert len(result.lines) == 1, result.output
    line = result.lines[0]
    assert "meeting.title" in line and "meeting.capacity" in line
    assert line.endswith("(INVALID_ARGUMENT)")
    usage = cli("meetings", "create", "--title", "x", "--start", "next tuesday")
    assert usage.exit_code == 2
    assert "is not a date and time" in usage.output


def test_server_down(mesh: Mesh, cli: Cli) -> None:
    """Logged in through an edge that then stops: one line, exit 8; the saved login is kept."""
    edge = Edge(edge_settings(mesh.platform, DESCRIPTORS))
    server, port = mesh.run(start_uvicorn(edge))
    url = f"http://127.0.0.1:{port}"
    person = mesh.client()
    try:
        assert cli.login(person.email, server=url).exit_code == 0
        assert cli("whoami", server=url).exit_code == 0
    finally:
        mesh.run(stop_uvicorn(server))
    result = cli("meetings", "list", server=url)
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert result.lines == [f"meetmesh: cannot reach {url} (ConnectError) (UNAVAILABLE)"]
    assert cli.credentials().exists()


def _age_access_token(cli: Cli) -> dict[str, object]:
    """Marks the saved access token as expired, as it is after 15 minutes."""
    saved: dict[str, object] = json.loads(cli.credentials().read_text())
    saved["access_expires"] = time.time() - 1
    cli.credentials().write_text(json.dumps(saved))
    return saved


def test_access_token_is_refreshed_automatically(cli: Cli, person: Client) -> None:
    before = _age_access_token(cli)
    result = cli("whoami")
    assert result.exit_code == 0, result.output
    after = json.loads(cli.credentials().read_text())
    assert after["refresh_token"] != before["refresh_token"]  # rotated, and saved at once
    assert after["access_token"] != before["access_token"]
    assert float(after["access_expires"]) > time.time() + 60
    assert stat.S_IMODE(cli.credentials().stat().st_mode) == 0o600


def test_processes_refreshing_at_once_keep_the_session(cli: Cli, person: Client) -> None:
    """Refresh tokens are single use and a reused one revokes the session: processes that find
    the access token expired together refresh one at a time and share the result."""
    cli.age_access_token()
    children = [cli.spawn("whoami", "--json") for _ in range(4)]
    outputs = [child.read() for child in children]
    for child in children:
        child.close()
    assert [child.exitstatus for child in children] == [0, 0, 0, 0], outputs
    assert {json.loads(out)["user"]["email"] for out in outputs} == {person.email}
    after = cli("meetings", "list", "--json")
    assert after.exit_code == 0, after.output  # the session was not revoked as a reuse


def test_expired_refresh_token(mesh: Mesh, cli: Cli, person: Client) -> None:
    saved = _age_access_token(cli)
    digest = hashlib.sha256(str(saved["refresh_token"]).encode()).hexdigest()
    key = f"{mesh.platform.settings.redis_prefix}:user:rt:{digest}"
    redis = mesh.platform.redis
    assert mesh.run(redis.pexpire(key, 1))  # the refresh token's lifetime runs out

    async def gone() -> bool:
        return not await redis.exists(key)

    mesh.run(wait_until(gone))
    result = cli("meetings", "list")
    assert result.exit_code == EXIT_UNAUTHENTICATED, result.output
    assert result.lines == [
        "meetmesh: your session has expired or was revoked: run `meetmesh login` (UNAUTHENTICATED)"
    ]
    assert not cli.credentials().exists()


def test_logout_revokes_the_session(mesh: Mesh, cli: Cli, person: Client) -> None:
    saved = json.loads(cli.credentials().read_text())
    result = cli("logout")
    assert result.exit_code == 0, result.output
    assert result.lines == [f"Logged out of {mesh.url} (profile default)."]
    assert not cli.credentials().exists()
    with pytest.raises(GRPCError) as refused:
        mesh.run(
            mesh.platform.users.RefreshSession(
                user_pb2.RefreshSessionRequest(refresh_token=saved["refresh_token"])
            )
        )
    assert refused.value.status is Status.UNAUTHENTICATED  # the session is revoked on the server
    assert cli("whoami").exit_code == EXIT_UNAUTHENTICATED


def test_profiles_keep_their_own_server_and_login(mesh: Mesh, cli: Cli) -> None:
    work, home = mesh.client("At Work"), mesh.client("At Home")
    assert cli.login(work.email, "correct horse battery staple", server=mesh.url).exit_code == 0
    child = cli.spawn("--profile", "home", "login")
    child.expect("Email: ")
    child.sendline(home.email)
    child.expect("Password: ")
    child.sendline("correct horse battery staple")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert cli("whoami", "--json").json()["user"]["email"] == work.email
    assert cli("--profile", "home", "whoami", "--json").json()["user"]["email"] == home.email
    config = (cli.home / "config.toml").read_text()
    assert '[profiles."default"]' in config and '[profiles."home"]' in config
    assert f'server = "{mesh.url}"' in config
