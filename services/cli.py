"""The ``meetmesh`` command.

* ``meetmesh up``: every service in one process on the embedded defaults (SQLite under ./var, the
  in-process Redis) unless MEETMESH_DATABASE_URL / MEETMESH_REDIS_URL say otherwise, with the
  built-in edge in front (gRPC-web, JSON, /rtc on http://127.0.0.1:8800/);
* ``meetmesh up --observability``: beside either, Prometheus, Alertmanager, Jaeger and VictoriaLogs
  under ./var/observability, with tracing and log shipping turned on (docs/operations.md);
* ``meetmesh up --stack``: the same on real servers the project runs itself under ./var/stack
  (PostgreSQL, Redis, and the other roles' servers; see services.stack);
* ``meetmesh serve <service> [--workers N]``: one service against the configured stores, in N
  processes sharing its ports (SO_REUSEPORT; user and meeting, on a shared Redis);
* ``meetmesh up --stack --workers N``: the same, with N processes for user and meeting;
* ``meetmesh migrate [service...]``: bring database schemas up to date;
* ``meetmesh admin promote <email>``: make an account an admin;
* ``meetmesh bot``: join a meeting and play a media file (see ``meetmesh_sdk.bot``);
* ``meetmesh loadtest``: rooms of publishing and subscribing bots against a running deployment,
  with a report (see ``meetmesh_sdk.loadtest``);
* the client commands (``login``, ``meetings``, ``participants``, ``models``, ...; docs/cli.md)
  come from ``meetmesh_sdk.cli``: this module adds the server commands above to that click group,
  which parses the command line. Server modules are imported only when a server command runs,
  so that client commands start quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from services.kit import PlatformSettings, Runtime, ServiceHost


# Services that may run as several processes on one port: they keep no state of their own in
# memory that the others need (their caches follow the meeting events on the shared Redis).
# Signaling, media and ai hold sessions, pinned rooms or a supervised Triton: one process each.
MULTI_WORKER = ("user", "meeting")


def workers_problem(names: Sequence[str], workers: int, settings: PlatformSettings) -> str | None:
    """Why ``names`` cannot run as ``workers`` processes with these settings (None: they can)."""
    if workers <= 1:
        return None
    single = [n for n in names if n not in MULTI_WORKER]
    if single:
        return f"--workers runs {' and '.join(MULTI_WORKER)} only; {', '.join(single)} run(s) as one process"
    if settings.redis_url.startswith("memory://"):
        return "--workers needs a shared Redis (MEETMESH_REDIS_URL): the in-process one is per process"
    zero = [n for n in names if not settings.endpoint(n).grpc_port or not settings.endpoint(n).http_port]
    if zero:
        return f"--workers needs fixed ports; {', '.join(zero)} has port 0"
    return None


def spawn_workers(names: Sequence[str], count: int, first: int = 0) -> list[subprocess.Popen[bytes]]:
    """``count`` processes serving ``names`` on shared ports (``serve --reuse-port``)."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", *names, "--reuse-port"],
            env={**os.environ, "MEETMESH_WORKER": str(first + i)},
        )
        for i in range(count)
    ]


def stop_workers(procs: Sequence[subprocess.Popen[bytes]], grace_s: float = 15.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _supervise(names: Sequence[str], workers: int) -> int:
    """Run ``workers`` processes of ``names``; stop them all on SIGTERM/SIGINT or when one exits."""
    procs = spawn_workers(names, workers)
    stopping = False

    def on_signal(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    while not stopping:
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            print(f"meetmesh: a worker exited ({exited[0].returncode}); stopping the others", file=sys.stderr)
            break
        time.sleep(0.2)
    stop_workers(procs)
    return code


async def start_services(
    runtime: Runtime, names: Sequence[str], reuse_port: Sequence[str] = ()
) -> list[ServiceHost]:
    """Create and start ``names`` in order; returns the running hosts (those in ``reuse_port``
    share their ports with other processes)."""
    from services.kit import ServiceHost
    from services.registry import factory

    settings = runtime.settings
    hosts: list[ServiceHost] = []
    try:
        for name in names:
            spec = await factory(name)(runtime)
            endpoint = settings.endpoint(name)
            host = ServiceHost(
                spec,
                runtime.tokens,
                host=endpoint.host,
                grpc_port=endpoint.grpc_port,
                http_port=endpoint.http_port,
                shutdown_grace_s=settings.shutdown_grace_s,
                max_message_bytes=settings.max_message_bytes,
                trusted_proxies=settings.trusted_proxies,
                reuse_port=name in reuse_port,
                grpc_server=settings.grpc_server,
            )
            await host.start()
            hosts.append(host)
    except BaseException:
        for host in reversed(hosts):
            await host.stop()
        raise
    return hosts


async def _run(
    names: Sequence[str], banner: bool, with_edge: bool = False, reuse_port: Sequence[str] = ()
) -> None:
    from services.edge.server import stop as stop_edge
    from services.kit import PlatformSettings, Runtime, configure_logging, tracing
    from services.kit.loop import freeze_startup_heap

    settings = PlatformSettings()
    configure_logging(settings.log_level, settings.log_json, push_url=settings.log_push_url)
    tracing.configure(settings.tracing)
    runtime = Runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hosts = await start_services(runtime, names, reuse_port)
    edge = await _start_edge() if with_edge else None
    freeze_startup_heap()
    if banner:
        print("meetmesh is up:", flush=True)
        for host in hosts:
            print(
                f"  {host.spec.name:<13} gRPC {host.host}:{host.grpc_port:<6} "
                f"HTTP http://{host.host}:{host.http_port}/healthz",
                flush=True,
            )
        print(f"  stores: {_describe(settings)}", flush=True)
        if edge is not None:
            print(f"Open {edge[2]}  (API reference: {edge[2]}docs)", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        if edge is not None:
            await stop_edge(edge[0], edge[1])
        for host in reversed(hosts):
            await host.stop()
        await runtime.close()
        tracing.shutdown()


async def _start_edge() -> tuple[Any, Any, str]:
    """The built-in edge in this process: gRPC-web, JSON and /rtc in front of the services."""
    from services.edge.config import EdgeSettings
    from services.edge.server import start as start_edge

    settings = EdgeSettings()
    servers, task = await start_edge(settings)
    if servers.tls_url:
        print(f"  edge          TLS (HTTP/2, HTTP/1.1) {servers.tls_url}/", flush=True)
    return servers, task, f"{servers.url}/"


def _describe(settings: PlatformSettings) -> str:
    db = settings.database_url.split("://", 1)[0]
    where = settings.database_url.rsplit("/", 1)[-1] if db.startswith("sqlite") else "PostgreSQL"
    redis = "in-process Redis" if settings.redis_url.startswith("memory://") else "Redis"
    results = "MongoDB" if settings.mongo_url else "the relational store"
    return f"{db} ({where}), {redis}; AI results and analytics in {results}"


async def _migrate(names: Sequence[str]) -> None:
    from services.kit import PlatformSettings, Runtime, configure_logging
    from services.registry import factory

    settings = PlatformSettings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = Runtime(settings)
    try:
        for name in names:
            await factory(name)(runtime)  # each service migrates its schema when created
            print(f"migrated {name}")
    finally:
        await runtime.close()


async def _promote(email: str) -> int:
    from services.kit import PlatformSettings, Runtime
    from services.user.api import normalize_email
    from services.user.store import UserStore
    from services.user.wiring import MIGRATIONS

    runtime = Runtime(PlatformSettings())
    try:
        db = runtime.database("user")
        await db.migrate(MIGRATIONS)
        if await UserStore(db).set_role(normalize_email(email), "admin"):
            print("promoted to admin")
            return 0
        print("no such account", file=sys.stderr)
        return 1
    finally:
        await runtime.close()


def _up(stack: bool, workers: int = 1, observability: bool = False) -> int:
    if not observability:
        return _up_platform(stack, workers)
    from services.kit import PlatformSettings
    from services.observability.local import ObservabilityStack
    from services.stack import StackError

    watchers = ObservabilityStack()
    print("starting Prometheus, Alertmanager, Jaeger and VictoriaLogs:", flush=True)
    try:
        os.environ.update(watchers.start(PlatformSettings(), lambda line: print(line, flush=True)))
    except StackError as error:
        print(f"meetmesh: {error}", file=sys.stderr)
        return 2
    try:
        return _up_platform(stack, workers)
    finally:
        watchers.stop()


def _up_platform(stack: bool, workers: int = 1) -> int:
    from services.registry import SERVICES

    if not stack:
        if workers > 1:
            print("meetmesh: --workers needs --stack (a shared Redis and PostgreSQL)", file=sys.stderr)
            return 2
        asyncio.run(_run(list(SERVICES), banner=True, with_edge=True))
        return 0
    from services.stack import Stack, StackError

    servers = Stack()
    print("starting the stack's servers:", flush=True)
    try:
        os.environ.update(servers.start(lambda line: print(line, flush=True)))
    except StackError as error:
        print(f"meetmesh: {error}", file=sys.stderr)
        return 2
    # With --workers N, this process runs everything (the edge included) and N-1 more processes
    # serve the multi-worker services on the same ports.
    shared = MULTI_WORKER if workers > 1 else ()
    extra = spawn_workers(MULTI_WORKER, workers - 1, first=1) if workers > 1 else []
    try:
        asyncio.run(_run(list(SERVICES), banner=True, with_edge=True, reuse_port=shared))
    finally:
        stop_workers(extra)
        servers.stop()
    return 0


def _parser() -> tuple[argparse.ArgumentParser, Any]:
    """The server commands' parser (and its sub-parsers action)."""
    from services.registry import SERVICES

    parser = argparse.ArgumentParser(prog="meetmesh", description=__doc__.split("\n\n")[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="run every service in one process (embedded defaults)",
        epilog="examples: meetmesh up; meetmesh up --stack; meetmesh up --stack --workers 2",
    )
    up.add_argument(
        "--stack",
        action="store_true",
        help="run on real servers under ./var/stack (PostgreSQL, Redis, ...), not the embedded defaults",
    )
    up.add_argument(
        "--observability",
        action="store_true",
        help="also run Prometheus, Alertmanager, Jaeger and VictoriaLogs under ./var/observability "
        "(metrics, alerts, traces and logs of this platform; docs/operations.md)",
    )
    up.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=f"with --stack: run {' and '.join(MULTI_WORKER)} as N processes sharing their ports",
    )
    serve = sub.add_parser(
        "serve",
        help="run one service (or several, in one process)",
        epilog="examples: meetmesh serve meeting; meetmesh serve user meeting --workers 2",
    )
    serve.add_argument("services", nargs="+", choices=list(SERVICES), metavar="service")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes sharing the ports (SO_REUSEPORT), each with its own event loop",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # one worker
    migrate = sub.add_parser(
        "migrate",
        help="bring database schemas up to date",
        epilog="examples: meetmesh migrate; meetmesh migrate user meeting",
    )
    migrate.add_argument(
        "services", nargs="*", metavar="service", help=f"default: all ({', '.join(SERVICES)})"
    )
    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    promote = admin_sub.add_parser(
        "promote", help="make an account an admin", epilog="example: meetmesh admin promote ada@example.com"
    )
    promote.add_argument("email")
    bot = sub.add_parser("bot", help="join a meeting and play a media file")
    from meetmesh_sdk import bot as bot_command

    bot_command.add_arguments(bot)
    loadtest = sub.add_parser(
        "loadtest", help="rooms of publishing and subscribing bots against a deployment, with a report"
    )
    from meetmesh_sdk.loadtest import command as loadtest_command

    loadtest_command.add_arguments(loadtest)
    return parser, sub


def server_main(argv: Sequence[str]) -> int:
    """Runs a server command (``up``, ``serve``, ``migrate``, ``admin promote``, ``bot``, ...)."""
    from meetmesh_sdk import bot as bot_command
    from services.registry import SERVICES

    parser, _ = _parser()
    args = parser.parse_args(argv)

    from services.kit.loop import install_uvloop

    install_uvloop()
    if args.command == "up":
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        return _up(stack=args.stack, workers=args.workers, observability=args.observability)
    elif args.command == "serve":
        from services.kit import PlatformSettings

        if args.workers < 1:
            parser.error("--workers must be at least 1")
        problem = workers_problem(args.services, args.workers, PlatformSettings())
        if problem:
            print(f"meetmesh: {problem}", file=sys.stderr)
            return 2
        if args.workers > 1:
            return _supervise(args.services, args.workers)
        first = os.environ.get("MEETMESH_WORKER", "0") == "0"
        shared = args.services if args.reuse_port else ()
        asyncio.run(_run(args.services, banner=first, reuse_port=shared))
    elif args.command == "migrate":
        asyncio.run(_migrate(args.services or list(SERVICES)))
    elif args.command == "admin":
        return asyncio.run(_promote(args.email))
    elif args.command == "bot":
        return asyncio.run(bot_command.run(args))
    elif args.command == "loadtest":
        from meetmesh_sdk.loadtest import command as loadtest_command

        return asyncio.run(loadtest_command.run(args))
    return 0


def server_commands() -> dict[str, click.Command]:
    """The server commands as click commands that hand their arguments to ``server_main``."""
    from meetmesh_sdk.cli import passthrough

    _, sub = _parser()
    helps = {action.dest: action.help or "" for action in sub._choices_actions}

    def runner(name: str) -> Callable[[list[str]], int]:
        return lambda args: server_main([name, *args])

    return {
        name: passthrough(name, helps.get(name, ""), runner(name))
        for name in sub.choices
        if name != "admin"  # the client's admin group carries `admin promote` (see command())
    }


def command() -> click.Group:
    """The whole ``meetmesh`` command: the client commands, and the server commands beside them."""
    from meetmesh_sdk.cli import build, passthrough

    root = build(__doc__.split("\n\n")[0] if __doc__ else "", extra=server_commands)
    admin = root.commands["admin"]
    assert isinstance(admin, click.Group)
    admin.add_command(
        passthrough(
            "promote",
            "make an account an admin, on this machine's database (MEETMESH_DATABASE_URL; no login "
            "needed: for the first admin). Example: meetmesh admin promote ada@example.com",
            lambda args: server_main(["admin", "promote", *args]),
        )
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """The ``meetmesh`` entry point."""
    return int(command().main(args=list(argv) if argv is not None else None, prog_name="meetmesh") or 0)


if __name__ == "__main__":
    sys.exit(main())
