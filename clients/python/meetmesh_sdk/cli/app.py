"""The client half of ``meetmesh``: the click group, its shared options and the output helpers.

Every command talks to one edge URL (``--server``) over gRPC-web through the generated grpclib
stubs (``meetmesh_sdk.grpcweb``). People get tables; ``--json`` prints the response message as
the JSON API does (proto3 JSON, camelCase) for scripts. Failures print one line on stderr and
exit with the code of their gRPC status class (``errors.py``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import click
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpclib.exceptions import GRPCError

from .config import DEFAULT_PROFILE, Config, ConfigError
from .errors import EXIT_USAGE, CliError, from_grpc
from .session import Session

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Options:
    server: str | None = None
    profile: str = DEFAULT_PROFILE
    json: bool = False
    timeout: float = 30.0


def example(*lines: str) -> Callable[[F], F]:
    """Puts ``Examples:`` under a command's ``--help`` (kept as written, not rewrapped)."""

    def attach(command: F) -> F:
        command.__meetmesh_example__ = lines  # type: ignore[attr-defined]
        return command

    return attach


class Command(click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        callback = kwargs.get("callback")
        lines = getattr(callback, "__meetmesh_example__", ())
        if lines and not kwargs.get("epilog"):
            kwargs["epilog"] = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--json", "json_output"], is_flag=True, help="print JSON (for scripts), not a table"
            )
        )


class Group(click.Group):
    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        callback = kwargs.get("callback")
        lines = getattr(callback, "__meetmesh_example__", ())
        if lines and not kwargs.get("epilog"):
            kwargs["epilog"] = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(*args, **kwargs)


Group.group_class = Group


def options() -> Options:
    ctx = click.get_current_context()
    root = ctx.find_root()
    opts = root.obj if isinstance(root.obj, Options) else Options()
    if ctx.params.get("json_output"):
        opts.json = True
    return opts


def run(body: Callable[[Session], Awaitable[Any]]) -> Any:
    """Runs an async command body with a session to the configured edge; maps errors to exit codes."""
    opts = options()

    async def main() -> Any:
        config = Config()
        session = Session(config, opts.profile, config.server(opts.profile, opts.server), opts.timeout)
        try:
            return await body(session)
        finally:
            await session.close()

    try:
        return asyncio.run(main())
    except GRPCError as exc:
        fail(from_grpc(exc))
    except ConfigError as exc:
        fail(CliError(str(exc), EXIT_USAGE))
    except CliError as exc:
        fail(exc)


def fail(error: CliError) -> None:
    click.echo(error.json_line() if options().json else error.line(), err=True)
    sys.exit(error.exit_code)


def async_command(body: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """A click callback from ``async def body(session, **params)``."""

    @functools.wraps(body)
    def callback(json_output: bool = False, **params: Any) -> Any:
        return run(lambda session: body(session, **params))

    return callback


# --- output -------------------------------------------------------------------------------------


def as_json(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(message)
    return data


def print_json(value: Message | dict[str, Any] | list[Any]) -> None:
    data = as_json(value) if isinstance(value, Message) else value
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def when(stamp: Timestamp, present: bool = True) -> str:
    if not present or (stamp.seconds == 0 and stamp.nanos == 0):
        return ""
    return datetime.fromtimestamp(stamp.seconds).isoformat(sep=" ", timespec="minutes")


def enum_word(message: Message, field: str) -> str:
    """An enum field's value without its type prefix, lower case (``STATE_CO_HOST`` -> ``co-host``)."""
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    assert descriptor is not None
    value = descriptor.values_by_number.get(getattr(message, field))
    if value is None or value.number == 0:
        return ""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", descriptor.name).upper() + "_"
    return str(value.name).removeprefix(prefix).lower().replace("_", "-")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)") -> None:
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        click.echo(empty)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """A record for people: one ``key: value`` line each, aligned."""
    items = [(k, str(v)) for k, v in pairs]
    width = max(len(k) for k, _ in items)
    for key, value in items:
        click.echo(f"{key + ':':<{width + 1}} {value}")


def resource(kind: str, value: str) -> str:
    """``meetings/abc`` from ``abc`` or ``meetings/abc``."""
    value = value.strip().rstrip("/")
    return value if value.startswith(f"{kind}/") else f"{kind}/{value}"


def command(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Command]:
    """``click.command`` with the CLI's ``--json`` and ``Examples:`` in its help."""
    return click.command(name, cls=Command, **kwargs)


def group(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Group]:
    return click.group(name, cls=Group, **kwargs)
