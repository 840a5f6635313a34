"""SeaweedFS as the S3 server (the MinIO role): ``weed server`` with its S3 gateway, on loopback.

One process runs a master, a volume server, a filer and the S3 gateway; every one of their HTTP and
gRPC ports is chosen free, their data lives under the server's root, telemetry is off and S3 asks
for credentials (an identities file written on first start). The binary is the project's Go tool
(``deploy/tools/go.mod``: ``github.com/seaweedfs/seaweedfs/weed``), built into ``var/tools/bin``.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import urllib3
from minio import Minio
from minio.error import S3Error

from .servers import ManagedServer, ServerFailed, find_binary, free_port

ACCESS_KEY = "meetmesh"
READY_BUCKET = "meetmesh-ready"
# master, volume, filer: HTTP and gRPC; the S3 gateway's gRPC (its HTTP port is ``port``).
_INTERNAL = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")


class SeaweedS3Server(ManagedServer):
    name = "seaweedfs"

    def __init__(
        self,
        root: Path | None = None,
        port: int = 0,
        access_key: str = ACCESS_KEY,
        secret_key: str | None = None,
    ) -> None:
        super().__init__(root, port)
        self.binary = find_binary("weed", "SeaweedFS (the Go tool github.com/seaweedfs/seaweedfs/weed)")
        self.access_key = access_key
        # A kept data directory keeps its credentials and its internal ports (the master's state
        # names its own address); a new one gets a random secret and free ports.
        saved = self._saved()
        self.secret_key: str = secret_key or str(saved.get("secret_key") or "") or secrets.token_hex(16)
        ports = saved.get("ports")
        if isinstance(ports, dict) and set(ports) == set(_INTERNAL):
            self.ports = {name: int(ports[name]) for name in _INTERNAL}
        else:
            self.ports = {name: free_port(self.host) for name in _INTERNAL}

    @property
    def url(self) -> str:
        """The S3 endpoint (``MEETMESH_OBJECTS__ENDPOINT``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def identities(self) -> Path:
        return self.root / "s3-identities.json"

    def _saved(self) -> dict[str, object]:
        if self._root is None:
            return {}
        try:
            saved = json.loads((self._root / "meetmesh-seaweedfs.json").read_text())
        except (OSError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def prepare(self) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        state = self.root / "meetmesh-seaweedfs.json"
        state.write_text(json.dumps({"secret_key": self.secret_key, "ports": self.ports}))
        state.chmod(0o600)
        config = {
            "identities": [
                {
                    "name": "meetmesh",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.identities.write_text(json.dumps(config))
        self.identities.chmod(0o600)

    def command(self) -> list[str]:
        p = self.ports
        return [
            self.binary, "server",
            f"-ip={self.host}", f"-ip.bind={self.host}",
            f"-dir={self.root / 'data'}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-master.electionTimeout=1s",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}", "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.identities}", f"-s3.localSocket={self.root / 's3.sock'}",
            "-s3.allowDeleteBucketNotEmpty",
        ]  # fmt: skip

    def repick_ports(self) -> bool:
        """Only a server with a data directory of its own (temporary) moves: a kept one's state
        names its internal ports."""
        if not self._temporary:
            return False
        shutil.rmtree(self.root / "data", ignore_errors=True)  # its state names the old ports
        super().repick_ports()  # the S3 port, unless given
        self.ports = {name: free_port(self.host) for name in _INTERNAL}
        return True

    def stop(self, timeout_s: float = 3.0) -> None:
        # A graceful stop takes about 15 s (gRPC streams between its parts drain slowly); every
        # acknowledged write is already in the volume files and the filer's log, so a short wait
        # then SIGKILL loses nothing.
        super().stop(min(timeout_s, 3.0))

    def wait_ready(self) -> None:
        super().wait_ready()
        # The gateway answers before it takes writes: a new cluster needs its filer in the master's
        # lock ring (a few seconds), and a restarted master with volumes grows none for 15 s (its
        # warm-up: 3 heartbeat pulses, fixed in SeaweedFS). A first write here makes "ready"
        # mean writable.
        client = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region="us-east-1",
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=2, read=self.ready_timeout_s), retries=urllib3.Retry(0)
            ),
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                if not client.bucket_exists(READY_BUCKET):
                    client.make_bucket(READY_BUCKET)
                client.put_object(READY_BUCKET, "probe", io.BytesIO(b"ok"), 2)
                return
            except (S3Error, OSError, urllib3.exceptions.HTTPError) as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerFailed(f"{self.name} took no writes: {exc}\n{self.log_tail()}") from None
                time.sleep(0.2)

    def is_ready(self) -> bool:
        if self.proc is not None and self.port_taken in self.log_tail(50).lower():
            # weed keeps running without the part that could not listen: fail now, not in 60 s
            raise ServerFailed(f"{self.name}: a port was taken before it bound it:\n{self.log_tail()}")
        # The gateway answers only once the filer behind it is up: an unauthenticated request
        # gets S3's 403 AccessDenied then (a connection error or 5xx before).
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=1):  # noqa: S310 - loopback http
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False
