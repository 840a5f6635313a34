"""Every command's ``--help`` carries an example; completion scripts for bash, zsh and fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from services import cli as entry
from tests.cli.conftest import ROOT


def _root() -> click.Group:
    return entry.command()


def _leaves(group: click.Group, ctx: click.Context, path: list[str]) -> list[list[str]]:
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            out += _leaves(command, ctx, [*path, name])
        else:
            out.append([*path, name])
    return out


COMMANDS = [
    ["login"], ["logout"], ["whoami"],
    *[["meetings", c] for c in ("create", "list", "get", "update", "end", "invite", "join")],
    *[["participants", c] for c in ("list", "admit", "deny", "remove", "role")],
    ["recordings", "list"], ["recordings", "download"], ["transcripts", "export"],
    ["admin", "users", "list"], ["admin", "users", "disable"], ["admin", "users", "promote"],
    ["admin", "users", "demote"],
    *[["models", c] for c in ("list", "load", "unload", "stats")],
    ["completion"], ["up"], ["serve"], ["migrate"], ["bot"], ["loadtest"],
]  # fmt: skip


def test_every_command_of_the_issue_exists() -> None:
    root = _root()
    with click.Context(root) as ctx:
        leaves = _leaves(root, ctx, [])
    missing = [c for c in COMMANDS if c not in leaves]
    assert not missing


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_an_example(path: list[str]) -> None:
    result = CliRunner().invoke(entry.command(), [*path, "--help"], prog_name="meetmesh")
    assert result.exit_code == 0, result.output
    assert "meetmesh" in result.output
    text = result.output.lower()
    assert "example" in text, result.output
    example = text.split("example", 1)[1]
    assert f"meetmesh {path[-1]}" in example or f"meetmesh {' '.join(path)}" in example, result.output


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("gen", ".", "clients/python")),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_bash_completion_script_is_accepted_by_complete_and_completes() -> None:
    script = _run("completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_MEETMESH_COMPLETE" in script.stdout
    check = subprocess.run(
        ["bash", "-c", f"{script.stdout}\ncomplete -p meetmesh"], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr
    assert "complete -o nosort -F _meetmesh_completion meetmesh" in check.stdout
    # what bash asks the command when a person presses Tab after "meetmesh mee"
    asked = _run(env={"_MEETMESH_COMPLETE": "bash_complete", "COMP_WORDS": "meetmesh mee", "COMP_CWORD": "1"})
    assert asked.returncode == 0, asked.stderr
    assert "plain,meetings" in asked.stdout.splitlines()
    nested = _run(
        env={
            "_MEETMESH_COMPLETE": "bash_complete",
            "COMP_WORDS": "meetmesh participants ro",
            "COMP_CWORD": "2",
        }
    )
    assert nested.stdout.splitlines() == ["plain,role"]


@pytest.mark.parametrize(
    ("shell", "marker"), [("zsh", "#compdef meetmesh"), ("fish", "complete --no-files --command meetmesh")]
)
def test_zsh_and_fish_scripts(shell: str, marker: str) -> None:
    result = CliRunner().invoke(entry.command(), ["completion", shell], prog_name="meetmesh")
    assert result.exit_code == 0, result.output
    assert marker in result.output
    assert "_MEETMESH_COMPLETE" in result.output
    binary = shutil.which(shell)
    if binary:  # when the shell is installed, it parses the script
        parsed = subprocess.run(
            [binary, "-n"], input=result.output, capture_output=True, text=True, timeout=30
        )
        assert parsed.returncode == 0, parsed.stderr
