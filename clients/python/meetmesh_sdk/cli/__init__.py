"""``meetmesh`` as a client for people and scripts (docs/cli.md).

``build()`` makes the click group of the client commands (login, logout, whoami, meetings,
participants, recordings, transcripts, admin users, models, completion); ``services.cli`` adds the
server commands (up, serve, migrate, bot, ...) to it and runs it as the ``meetmesh`` entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from click.shell_completion import get_completion_class

from .account import admin, login, logout, whoami
from .app import Group, Options, example
from .config import DEFAULT_PROFILE
from .errors import EXIT_CODES, CliError
from .meetings import meetings, participants, recordings, transcripts
from .models import models

PROG = "meetmesh"
COMPLETE_VAR = "_MEETMESH_COMPLETE"


@click.command(cls=click.Command)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    Examples:
      eval "$(meetmesh completion bash)"                 # in ~/.bashrc
      meetmesh completion zsh > "${fpath[1]}/_meetmesh"
      meetmesh completion fish > ~/.config/fish/completions/meetmesh.fish
    """
    root = click.get_current_context().find_root()
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(root.command, {}, PROG, COMPLETE_VAR).source())


class Root(Group):
    """The top group: the client commands, plus commands that ``extra`` makes on first need
    (the server's, whose modules are slow to import: a client command never loads them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra: Callable[[], dict[str, click.Command]] | None = None
        self._extra: dict[str, click.Command] | None = None

    def _extras(self) -> dict[str, click.Command]:
        if self._extra is None:
            self._extra = self.extra() if self.extra else {}
        return self._extra

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._extras()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._extras().get(name)


def build(description: str = "", extra: Callable[[], dict[str, click.Command]] | None = None) -> Root:
    """The ``meetmesh`` group with the client commands; ``extra`` gives more on first need."""

    @click.group(PROG, cls=Root, help=description or (__doc__ or "").split("\n\n")[0])
    @click.option(
        "--server",
        envvar="MEETMESH_SERVER",
        metavar="URL",
        help="the edge to talk to [env MEETMESH_SERVER; default: the profile's, else http://127.0.0.1:8800]",
    )
    @click.option(
        "--profile",
        envvar="MEETMESH_PROFILE",
        default=DEFAULT_PROFILE,
        show_default=True,
        help="which saved login and server to use [env MEETMESH_PROFILE]",
    )
    @click.option("--json", "json_output", is_flag=True, help="print JSON (for scripts), not tables")
    @click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds per call")
    @example("meetmesh login", "meetmesh meetings create --title Standup", "meetmesh --json meetings list")
    @click.pass_context
    def root(ctx: click.Context, server: str | None, profile: str, json_output: bool, timeout: float) -> None:
        ctx.obj = Options(server=server, profile=profile, json=json_output, timeout=timeout)

    root.extra = extra
    for command in (login, logout, whoami, meetings, participants, recordings, transcripts, admin, models):
        root.add_command(command)
    root.add_command(completion)
    return root


def passthrough(name: str, help_text: str, run: Callable[[list[str]], int]) -> click.Command:
    """A command whose arguments go untouched to ``run`` (the server commands' own parser)."""

    @click.command(
        name,
        help=help_text,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: Sequence[str]) -> None:
        raise SystemExit(run(list(args)))

    return command


__all__ = ["COMPLETE_VAR", "EXIT_CODES", "PROG", "CliError", "build", "passthrough"]
