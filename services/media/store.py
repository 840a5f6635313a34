"""Where finished recordings go: the platform's object store, through a spool on local disk.

A recording is uploaded as soon as it is written. When the object store cannot be reached, the file
is moved into the spool folder (``MEETMESH_MEDIA__SPOOL_DIR``) with a small JSON note of its key and
type, and a background task uploads every spooled file when the store is back; a media service that
restarts picks up what its predecessor left there. No finished recording is lost to an S3 outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
from pathlib import Path

from services.kit.logs import get_logger
from services.kit.objects import ObjectStore, ObjectStoreUnavailable, check_key

log = get_logger("meetmesh.media.store")


class RecordingStore:
    """Uploads recordings to ``objects``; spools them while it is down (see the module docstring)."""

    def __init__(
        self, objects: ObjectStore, spool_dir: Path, retry_s: float = 2.0, max_retry_s: float = 30.0
    ) -> None:
        self.objects = objects
        self.spool_dir = Path(spool_dir)
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def put_file(self, key: str, path: Path, content_type: str) -> bool:
        """Store ``path`` under ``key``: True when uploaded now, False when spooled for later."""
        check_key(key)
        try:
            await self.objects.put_file(key, path, content_type)
            return True
        except ObjectStoreUnavailable:
            await asyncio.to_thread(self._spool, key, path, content_type)
            log.warning("object store unavailable; recording spooled for upload", extra={"key": key})
            self._wake.set()
            return False

    def download_url(self, key: str, user: str = "") -> str:
        return self.objects.presign_get(key, user)

    def _spool(self, key: str, path: Path, content_type: str) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        data = self.spool_dir / f"{name}.data"
        shutil.copyfile(path, data.with_suffix(".part"))
        data.with_suffix(".part").replace(data)
        note = self.spool_dir / f"{name}.json"
        note.with_suffix(".jtmp").write_text(json.dumps({"key": key, "content_type": content_type}))
        note.with_suffix(".jtmp").replace(note)  # the note last: a note always has its data

    def pending(self) -> list[str]:
        """Keys waiting in the spool."""
        keys = []
        for note in sorted(self.spool_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                keys.append(str(json.loads(note.read_text())["key"]))
        return keys

    async def flush(self) -> int:
        """Upload what is spooled; returns how many remain (stops at the first outage)."""
        notes = sorted(self.spool_dir.glob("*.json")) if self.spool_dir.is_dir() else []
        for index, note in enumerate(notes):
            try:
                entry = json.loads(note.read_text())
                key, content_type = check_key(str(entry["key"])), str(entry["content_type"])
            except (OSError, ValueError, KeyError, TypeError):
                log.error("unreadable spool note left in place", extra={"note": note.name})
                continue
            data = note.with_suffix(".data")
            try:
                await self.objects.put_file(key, data, content_type)
            except ObjectStoreUnavailable:
                return len(notes) - index
            note.unlink()
            data.unlink(missing_ok=True)
            log.info("spooled recording uploaded", extra={"key": key})
        return 0

    async def _run(self) -> None:
        delay = self.retry_s
        while True:
            remaining = await self.flush()
            delay = self.retry_s if remaining == 0 else min(delay * 2, self.max_retry_s)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recording-spool")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
