"""The bundled Triton Inference Server: start, wait until ready, watch, restart, stop.

The `nvidia-pytriton` wheel ships `tritonserver` (python backend only) and a python-backend stub
per Python version. Running it on a plain model repository needs three things (measured, see
docs/ai.md): the stub for *this* Python copied beside `libtriton_python.so` in a backend folder of
our own, `LD_LIBRARY_PATH` holding the wheel's `nvidia_pytriton.libs` and Python's own libdir, and
`PATH` starting with this environment's `bin` so that model code imports this environment's
numpy. The server runs in explicit model-control mode: models are loaded by name (all of them at
start) and versions are swapped through the repository API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from services.ai.inference import InferenceClient
from services.ai.modelbuild import sources
from services.kit.logs import get_logger

log = get_logger("meetmesh.ai.triton")


@dataclass(frozen=True)
class TritonOptions:
    repository: Path
    workdir: Path
    grpc_port: int = 8001
    # Prometheus metrics port; 0 turns metrics off.
    metrics_port: int = 0
    load_all: bool = True
    ready_timeout_s: float = 120.0
    # Restart the server when it exits on its own.
    supervise: bool = True


def _wheel_dir() -> Path:
    return sources.package_dir("pytriton") / "tritonserver"


def prepare_backends(workdir: Path) -> Path:
    """A backend folder with the python backend and the stub built for this Python."""
    wheel = _wheel_dir()
    target = workdir / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for source in (
        wheel / "backends" / "python" / "libtriton_python.so",
        wheel / "backends" / "python" / "triton_python_backend_utils.py",
        wheel / "python_backend_stubs" / version / "triton_python_backend_stub",
    ):
        if not (target / source.name).exists():
            shutil.copy2(source, target / source.name)
    return target.parent


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    libs = [str(_wheel_dir().parent.parent / "nvidia_pytriton.libs"), str(sysconfig.get_config_var("LIBDIR"))]
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(libs)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    # One thread per model instance: the machine is shared with the services.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def command(o: TritonOptions) -> list[str]:
    """The tritonserver command line for `o`."""
    args = [
        str(_wheel_dir() / "bin" / "tritonserver"),
        f"--model-repository={o.repository.resolve()}",
        f"--backend-directory={prepare_backends(o.workdir)}",
        "--model-control-mode=explicit",
        f"--grpc-port={o.grpc_port}",
        "--grpc-address=127.0.0.1",
        "--allow-http=false",
        "--exit-timeout-secs=5",
        "--log-verbose=0",
    ]
    if o.metrics_port:
        args += ["--allow-metrics=true", f"--metrics-port={o.metrics_port}"]
    else:
        args += ["--allow-metrics=false"]
    if o.load_all:
        args.append("--load-model=*")
    return args


class TritonServer:
    """One tritonserver process."""

    def __init__(self, options: TritonOptions) -> None:
        self.options = options
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.options.grpc_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Starts the server and returns once it and its models are ready."""
        self._stopping = False
        await self._spawn()
        if self.options.supervise and self._watch is None:
            self._watch = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        self.options.workdir.mkdir(parents=True, exist_ok=True)
        log_file = (self.options.workdir / "tritonserver.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command(self.options),
                stdout=log_file,
                stderr=log_file,
                env=server_environment(),
                start_new_session=True,
            )
        finally:
            log_file.close()
        await self._wait_ready()
        log.info("tritonserver ready", extra={"pid": self._process.pid, "grpc_port": self.options.grpc_port})

    async def _wait_ready(self) -> None:
        client = InferenceClient(self.url, timeout_s=2.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.ready_timeout_s
        try:
            while loop.time() < deadline:
                if not self.running:
                    raise RuntimeError(
                        f"tritonserver exited; see {self.options.workdir / 'tritonserver.log'}"
                    )
                if await client.ready():
                    return
                await asyncio.sleep(0.2)
            raise TimeoutError("tritonserver did not become ready")
        finally:
            await client.close()

    async def _supervise(self) -> None:
        while not self._stopping:
            process = self._process
            if process is None:
                return
            await process.wait()
            if self._stopping:
                return
            log.warning("tritonserver exited; restarting", extra={"returncode": process.returncode})
            self.restarts += 1
            try:
                await self._spawn()
            except (RuntimeError, TimeoutError, OSError):
                log.exception("tritonserver restart failed")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
