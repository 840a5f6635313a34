"""Real servers that meetmesh starts itself: the base every one of them shares.

A ``ManagedServer`` is one server process of the project's own, under a data directory of its own,
on a port of its own, never a machine-wide service: ``start()`` prepares its data directory, runs it,
waits until it answers (or fails with the tail of its log) and ``stop()`` ends it. The test fixtures
(``tests/servers.py``) and ``meetmesh up --stack`` (``services.stack.stack``) are built on it.

Errors, in one picture::

    StackError
     +-- MissingPrerequisite   a binary is not installed: says which and the command that installs it
     +-- ServerFailed          the server exited or never became ready: names it and shows its log
"""

from __future__ import annotations

import collections
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

SETUP_HINT = "make setup"


class StackError(RuntimeError):
    """A server of the stack could not be run."""


class MissingPrerequisite(StackError):
    """A binary the stack needs is not installed."""

    def __init__(self, what: str, install: str = SETUP_HINT) -> None:
        super().__init__(f"{what} is not installed: run `{install}`")
        self.what = what
        self.install = install


class ServerFailed(StackError):
    """A server exited, or did not become ready in time."""


# The ports free_port handed out lately: not handed out again while their takers may still be
# on their way to binding them.
_GIVEN: collections.deque[int] = collections.deque(maxlen=4096)
# free_port's own range starts here (below it: well-known development ports such as Jaeger's 16686).
_OWN_LOW = 20000


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing is bound to right now, for a server about to bind it.

    Picked below the kernel's ephemeral range where the range leaves room: a port from
    ``bind(port 0)`` comes from that range, which is also where every outgoing connection takes
    its local port, so between the pick and the server's bind a connection could take it (CI,
    2026-12-04: a test's edge failed with EADDRINUSE on such a port). Below the range only
    another explicit bind can, and this process never hands out the same port twice in a row."""
    low = _ephemeral_low()
    if low - _OWN_LOW >= 1024:
        for _ in range(200):
            port = _OWN_LOW + secrets.randbelow(low - _OWN_LOW)
            if port in _GIVEN:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _GIVEN.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    _GIVEN.append(port)
    return port


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; elsewhere IANA's 49152)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout_s):
        return True
    return False


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def tools_bin() -> Path:
    """Where the project's Go tools are built (``deploy/tools/go.mod``, by ``make setup``)."""
    return Path(os.environ.get("MEETMESH_TOOLS_BIN", project_root() / "var" / "tools" / "bin"))


def find_binary(name: str, what: str, install: str = SETUP_HINT, extra_dirs: tuple[Path, ...] = ()) -> str:
    for folder in (*extra_dirs, tools_bin()):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingPrerequisite(what, install)
    return found


def unprivileged_user(binary_name: str, account: str = "postgres") -> str | None:
    """The account a server that refuses root runs as: None (the current one) unless we are root,
    then ``account`` (Debian's postgresql package creates it)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(account)
    except KeyError:
        raise MissingPrerequisite(
            f"the '{account}' account (as root, {binary_name} must run as another user)"
        ) from None
    return account


def traversable_by_others(path: Path) -> bool:
    """Whether another account can reach ``path`` (every folder above it has o+x)."""
    return all(not folder.exists() or folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)


class ManagedServer:
    """One server process of the project's own (see the module docstring)."""

    name = "server"
    ready_timeout_s = 60.0

    #: What a server logs when a port it was handed was taken between picking and binding it.
    port_taken = "address already in use"

    def __init__(self, root: Path | None = None, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port_given = bool(port)
        self.port = port or free_port(host)
        self._root = root
        self._temporary = root is None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_as: str | None = None
        self.started_before = False

    # -- what a server defines ---------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create the data directory and whatever the first start needs (idempotent)."""

    def is_ready(self) -> bool:
        return port_open(self.port, self.host)

    def repick_ports(self) -> bool:
        """New free ports after one that was picked here was taken before the server bound it;
        False when the server cannot move: its port was given, or (a subclass says so) its state
        names its ports. The default moves ``port``, the one port a server has unless it says
        otherwise, and which reaches it on its command line."""
        if self.port_given:
            return False
        self.port = free_port(self.host)
        return True

    @property
    def url(self) -> str:
        raise NotImplementedError

    # -- the life cycle ----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix=f"meetmesh-{self.name}-"))
        return self._root

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> ManagedServer:
        """Start and wait until ready. Free ports are only free when picked: another process (or
        an outgoing connection's ephemeral port) may take one before the server binds it. A server
        that can move (``repick_ports``) then starts again on new ones, up to three times; only on
        its first start: a restart keeps its ports, which clients already know."""
        for attempt in range(3):
            try:
                self._start_once()
                self.started_before = True
                return self
            except ServerFailed as exc:
                if attempt == 2 or self.port_taken not in str(exc).lower():
                    raise
                self.stop()
                # a restart keeps its ports: clients already know them
                if self.started_before or not self.repick_ports():
                    raise
                self.log_path.unlink(missing_ok=True)  # the next try's log starts clean
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        if self.running:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.prepare()
        if port_open(self.port, self.host):
            raise ServerFailed(
                f"{self.name}: port {self.port}: address already in use (something listens there)"
            )
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.root,
                user=self.run_as,
                start_new_session=True,  # Ctrl+C in a terminal reaches us, not the servers directly
            )
        finally:
            log.close()
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.is_ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerFailed(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerFailed(
                    f"{self.name} was not ready after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would; ``start()`` brings it back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def remove(self) -> None:
        """Stop and delete a temporary data directory."""
        self.stop()
        if self._temporary and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> ManagedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise ServerFailed(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def running(server: ManagedServer) -> Iterator[ManagedServer]:
    server.start()
    try:
        yield server
    finally:
        server.remove()


class ServerSet:
    """Servers started on first use, each once, and stopped together (newest first).

    What the test session, a bench run and ``meetmesh up --stack`` each keep of their servers."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # reentrant: one server's factory may need another's
        self._running: dict[str, ManagedServer] = {}

    def get(self, name: str, make: Callable[[], ManagedServer]) -> ManagedServer:
        """The running server called ``name``, made and started by ``make()`` the first time."""
        with self._lock:
            if name not in self._running:
                self._running[name] = make().start()
            return self._running[name]

    def items(self) -> list[tuple[str, ManagedServer]]:
        with self._lock:
            return list(self._running.items())

    def stop_all(self, remove: bool = True) -> None:
        """Stop every server; ``remove`` also deletes temporary data directories."""
        with self._lock:
            servers = list(self._running.values())
            self._running.clear()
        for server in reversed(servers):
            if remove:
                server.remove()
            else:
                server.stop()
