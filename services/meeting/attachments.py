"""Meeting attachments: what a shared file must be, and the removal of an ended meeting's files.

The RPCs are in ``api/attachments.py``. When a meeting ends, its attachments are forgotten at once
and their files removed from the object store by :class:`AttachmentCleanup` (again and again, with
backoff, while the store is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath

from services.kit.objects import ObjectStore, ObjectStoreUnavailable

MAX_BYTES = 25 * 1024 * 1024
ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/csv",
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)


def filename_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name, or None."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "must not contain control characters"
    if "/" in name or "\\" in name or name in (".", "..") or posixpath.basename(name) != name:
        return "must be a file name without folders"
    if not name.strip():
        return "must not be blank"
    return None


class AttachmentCleanup:
    """Removes the files of ended meetings' attachments, retrying while the object store is down."""

    def __init__(self, objects: ObjectStore, retry_s: float = 2.0, max_retry_s: float = 60.0) -> None:
        self.objects = objects
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def remove(self, meeting_id: str) -> None:
        prefix = f"meetings/{meeting_id}/attachments/"
        try:
            await self.objects.delete_prefix(prefix)
        except ObjectStoreUnavailable:
            task = asyncio.create_task(self._retry(prefix), name=f"attachment-cleanup-{meeting_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _retry(self, prefix: str) -> None:
        delay = self.retry_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self.objects.delete_prefix(prefix)
                return
            except ObjectStoreUnavailable:
                delay = min(delay * 2, self.max_retry_s)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
