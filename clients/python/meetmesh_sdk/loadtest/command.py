"""The ``meetmesh loadtest`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ice import use_host_addresses
from .runner import LoadTest, LoadTestOptions, parse_duration, print_progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "example (against meetmesh up): meetmesh loadtest --rooms 2 --publishers 2 --subscribers 4 "
        "--duration 30s"
    )
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--publishers", type=int, default=1, help="publishing bots per room")
    parser.add_argument("--subscribers", type=int, default=1, help="subscribing bots per room")
    parser.add_argument("--duration", default="30s", help="how long the bots stay (30s, 2m, 1m30s)")
    parser.add_argument("--user-server", default="127.0.0.1:8080", help="the user service, host:port")
    parser.add_argument("--meeting-server", default="127.0.0.1:8082", help="the meeting service, host:port")
    parser.add_argument(
        "--platform-pid",
        type=int,
        action="append",
        default=[],
        help="a platform process whose CPU to report (default: local `meetmesh up`/`serve` processes)",
    )
    parser.add_argument("--out", type=Path, default=Path("loadtest-report"), help="folder for report.*")
    parser.add_argument(
        "--ice-host", action="append", default=[], help="gather ICE host candidates only on this address"
    )


async def run(args: argparse.Namespace) -> int:
    from .report import write

    try:
        options = LoadTestOptions(
            rooms=args.rooms,
            publishers=args.publishers,
            subscribers=args.subscribers,
            duration_s=parse_duration(args.duration),
            user_server=args.user_server,
            meeting_server=args.meeting_server,
            platform_pids=args.platform_pid,
        )
    except ValueError as exc:
        print(f"meetmesh loadtest: {exc}", file=sys.stderr)
        return 2
    use_host_addresses(args.ice_host)
    report = await LoadTest(options, print_progress).run()
    if sys.stdout.isatty():
        print()
    print(report.table())
    json_path, html_path = write(report, args.out)
    print(f"report: {json_path} and {html_path}")
    summary = report.summary()
    return 0 if summary["joined"] == summary["bots"] and not summary["errors"] else 1
