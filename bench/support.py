"""Shared helpers for benchmarks: free ports, child processes, load loops and statistics."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.stack import PostgresServer, RedisServer, ServerSet
from services.stack.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, ``env`` on top, with the project's import path for a child Python."""
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}:{ROOT / 'clients/python'}", **(env or {})}


def spawn(
    args: list[str], env: dict[str, str] | None = None, stderr: int | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=child_env(env), stdout=subprocess.DEVNULL, stderr=stderr
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_for_port(port: int, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@dataclass
class Result:
    name: str
    calls: int
    errors: int
    seconds: float
    latencies: list[float]
    #: CPU seconds each process group of a ``CpuMeter`` spent in the measured window (if metered).
    cpu: dict[str, float] = field(default_factory=dict)

    def cpu_per_call_us(self, group: str) -> float:
        """Microseconds of ``group``'s CPU per measured call."""
        return self.cpu.get(group, 0.0) / max(self.calls, 1) * 1e6

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.pct(0.99) * 1000

    def row(self) -> str:
        return (
            f"  {self.name:<28} {self.throughput:>9.0f} calls/s   p50 {self.p50_ms:>7.2f} ms   "
            f"p99 {self.p99_ms:>7.2f} ms   ({self.calls} calls, {self.errors} errors)"
        )


class CpuMeter:
    """CPU time of groups of processes (Linux: the scheduler's per-thread run time in
    ``/proc/<pid>/task/<tid>/schedstat``), e.g. the bench client, a service and its workers,
    PostgreSQL's backends: which process a call's CPU goes to, and how much, whatever the host's
    speed. Each group is a function naming its root processes; their descendants count too
    (PostgreSQL's backends, a service's workers), looked up at each reading, except those of
    another group (the bench process's own group leaves out the servers it started). The run time
    is the scheduler's, in nanoseconds: psutil's ``cpu_times`` counts clock ticks (10 ms), too
    coarse summed over twenty backends in a 5 s window. A process that exits between two
    readings takes its time with it (none does while a phase runs)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups

    @staticmethod
    def available() -> bool:
        return Path(f"/proc/{os.getpid()}/schedstat").exists()

    def read(self) -> dict[str, float]:
        roots = {name: set(of()) for name, of in self.groups.items()}
        trees = {name: _tree(pids) for name, pids in roots.items()}
        readings: dict[str, float] = {}
        for name, tree in trees.items():
            # Leave out the groups started under this one (the bench process's servers).
            nested = [
                trees[other] for other in trees if other != name and roots[other] & (tree - roots[name])
            ]
            readings[name] = sum(_cpu_ns(pid) for pid in tree.difference(*nested)) / 1e9
        return readings


def _tree(roots: set[int]) -> set[int]:
    """``roots`` and every process under them (psutil; those gone meanwhile left out)."""
    import psutil

    pids = set(roots)
    for root in roots:
        with contextlib.suppress(psutil.Error):
            pids.update(child.pid for child in psutil.Process(root).children(recursive=True))
    return pids


def _cpu_ns(pid: int) -> int:
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError):
        pass  # gone meanwhile
    return total


async def load(
    name: str,
    workers: int,
    seconds: float,
    call: Callable[[int], Awaitable[None]],
    warmup: float = 1.0,
    interval_s: float = 0.0,
    meter: CpuMeter | None = None,
) -> Result:
    """Run ``call(worker_index)`` in ``workers`` concurrent loops; measure after a warm-up.

    With ``interval_s`` each worker starts a call every ``interval_s`` seconds (paced load, as
    real clients behave) instead of back to back (saturation). With ``meter``, the CPU of its
    groups over the measured window comes with the result."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + seconds
    readings: list[dict[str, float]] = []

    async def read_at(when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        assert meter is not None
        readings.append(meter.read())

    metering = [asyncio.ensure_future(read_at(t)) for t in (measure_from, end)] if meter else []

    async def worker(i: int) -> None:
        nonlocal errors
        next_start = start + (interval_s * i / workers)  # spread the workers' phases
        while True:
            if interval_s:
                delay = next_start - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_start += interval_s
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                await call(i)
            except Exception:
                errors += 1
                continue
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)

    await asyncio.gather(*(worker(i) for i in range(workers)), *metering)
    cpu = {group: readings[1][group] - readings[0][group] for group in readings[0]} if metering else {}
    return Result(name, len(latencies), errors, seconds, latencies, cpu)


# The bench run's own servers, started on first use, stopped at exit.
_servers = ServerSet()
atexit.register(_servers.stop_all)


def own_server_pids(name: str) -> list[int]:
    """The root process of the bench run's own ``postgres`` or ``redis`` server (none when the
    run uses one named by ``MEETMESH_BENCH_*_URL``, or has not started it)."""
    for running, server in _servers.items():
        proc = getattr(server, "proc", None)
        if running == name and proc is not None:
            return [proc.pid]
    return []


def pg_url() -> str:
    """PostgreSQL for the benchmarks: ``MEETMESH_BENCH_DATABASE_URL`` or a server of the run's own."""
    return os.environ.get("MEETMESH_BENCH_DATABASE_URL") or _servers.get("postgres", PostgresServer).url


def redis_url() -> str:
    """Redis for the benchmarks: ``MEETMESH_BENCH_REDIS_URL`` or a server of the run's own."""
    return os.environ.get("MEETMESH_BENCH_REDIS_URL") or _servers.get("redis", RedisServer).url


def platform_env(user_port: int, meeting_port: int) -> dict[str, str]:
    """Environment for a user+meeting process on the real PostgreSQL and Redis, isolated from
    everything else by a fresh schema and key prefix (remove them with ``drop_platform``)."""
    run = uuid.uuid4().hex[:6]
    return {
        "MEETMESH_DATABASE_URL": pg_url(),
        "MEETMESH_REDIS_URL": redis_url(),
        "MEETMESH_REDIS_PREFIX": f"mmbench{run}",
        "MEETMESH_SCHEMA_PREFIX": f"bench{run}_",
        "MEETMESH_KEYS_DIR": tempfile.mkdtemp(prefix="meetmesh-bench-keys-"),
        "MEETMESH_LOG_LEVEL": "WARNING",
        "MEETMESH_USER__GRPC_PORT": str(user_port),
        "MEETMESH_USER__HTTP_PORT": str(free_port()),
        "MEETMESH_MEETING__GRPC_PORT": str(meeting_port),
        "MEETMESH_MEETING__HTTP_PORT": str(free_port()),
    }


async def drop_platform(env: dict[str, str]) -> None:
    """Remove the schemas and keys of a ``platform_env`` run."""
    import redis.asyncio as aioredis
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(pg_url())
    async with engine.begin() as conn:
        for svc in ("user", "meeting"):
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{env["MEETMESH_SCHEMA_PREFIX"]}{svc}" CASCADE'))
    await engine.dispose()
    client = aioredis.Redis.from_url(redis_url())
    keys = [k async for k in client.scan_iter(match=f"{env['MEETMESH_REDIS_PREFIX']}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
