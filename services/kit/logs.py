"""Structured JSON logs that keep personal data out.

Services log events and ids, never names, emails, transcripts or tokens. Protobuf messages may be
logged (as arguments or ``extra`` values): they are written field by field, and a field the
contract marks ``(meetmesh.options.v1.sensitivity)`` personal or secret shows only "[personal]" or
"[secret]" (``policy.redacted``). As a safety net for free text, ``RedactingFilter`` also masks
anything that looks like an email address or a JWT, including in ``extra`` fields.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import sys
import threading
import time
from typing import Any

import httpx
from google.protobuf.message import Message

from . import tracing
from .policy import redacted

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_ANY = re.compile(f"{_JWT.pattern}|(?i:bearer)\\s|{_EMAIL.pattern}")  # one pass: anything to mask?
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask emails, JWTs and bearer credentials in ``text``."""
    if _ANY.search(text) is None:
        return text
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub("Bearer [token]", text)
    return _EMAIL.sub("[email]", text)


def _safe(value: Any) -> Any:
    """A log value with sensitive content masked: messages by the contract, text by pattern."""
    if isinstance(value, Message):
        return redact(json.dumps(redacted(value), default=str))
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, _safe(value))
        return True


class TraceFilter(logging.Filter):
    """Stamps a record written inside a recorded span with its ``trace_id`` and ``span_id`` (at
    emit time, in the caller's context: handlers that format later still see them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            ids = tracing.current_ids()
            if ids is not None:
                record.trace_id, record.span_id = ids
        return True


class LokiHandler(logging.Handler):
    """Ships log lines (formatted as JSON) to a Loki push API (``/loki/api/v1/push``; VictoriaLogs
    takes it at ``/insert/loki/api/v1/push?_msg_field=msg``), batched by a background thread.

    Never blocks the caller: when the store is slow or away, lines beyond ``max_queue`` are dropped
    and counted (``dropped``); a failed push is dropped too (the stderr copy remains)."""

    def __init__(
        self, url: str, labels: dict[str, str], max_queue: int = 10_000, flush_s: float = 0.5
    ) -> None:
        super().__init__()
        self.url = url
        self.labels = labels
        self.flush_s = flush_s
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="meetmesh-log-push", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if threading.current_thread() is self._thread:
            return  # the pusher's own HTTP client logging about its pushes
        try:
            line = self.format(record)
            self._queue.put_nowait((str(int(record.created * 1e9)), line))
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.handleError(record)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            running = True
            while running:
                try:
                    first = self._queue.get(timeout=self.flush_s)
                except queue.Empty:
                    continue
                items = [first]
                while items[-1] is not None and len(items) < 1000:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                running = items[-1] is not None
                batch = [item for item in items if item is not None]
                if batch:
                    body = {"streams": [{"stream": self.labels, "values": batch}]}
                    try:
                        client.post(self.url, json=body).raise_for_status()
                    except httpx.HTTPError:
                        self.dropped += len(batch)
                for _ in items:
                    self._queue.task_done()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (up to ``timeout_s``) until what was emitted so far has been pushed or dropped."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1)
        self._thread.join(5)
        super().close()


def push_handler(url: str, labels: dict[str, str] | None = None) -> LokiHandler:
    """A handler shipping redacted JSON lines, with trace ids, to the Loki push API at ``url``."""
    pusher = LokiHandler(url, labels or {"app": "meetmesh"})
    pusher._meetmesh = True  # type: ignore[attr-defined]
    pusher.addFilter(RedactingFilter())
    pusher.addFilter(TraceFilter())
    pusher.setFormatter(JsonFormatter())
    return pusher


class JsonFormatter(logging.Formatter):
    _second = -1
    _second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        entry: dict[str, Any] = {
            "ts": f"{self._second_text}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                if isinstance(value, Message):
                    entry[key] = redacted(value)
                else:
                    entry[key] = value if isinstance(value, int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(
    level: str = "INFO", json_output: bool = True, push_url: str = "", labels: dict[str, str] | None = None
) -> None:
    """Send every log record through the redacting filter, as JSON lines on stderr, and to a Loki
    push API at ``push_url`` when given (``MEETMESH_LOG_PUSH_URL``). Lines written inside a traced
    request carry its ``trace_id``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_meetmesh", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(sys.stderr)
    handler._meetmesh = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.addFilter(TraceFilter())
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    fmt: logging.Formatter = JsonFormatter() if json_output else plain
    handler.setFormatter(fmt)
    root.addHandler(handler)
    if push_url:
        root.addHandler(push_handler(push_url, labels))
    root.setLevel(level.upper())
    # Nothing here writes the caller's file and line, thread or process name: the logging module
    # need not look them up for every record (the "Optimization" section of Python's logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False  # os.getpid() for every record (strace: on every access-log line)
    logging.logMultiprocessing = False
    # grpclib logs every application error with a traceback; our wrapper logs them once instead.
    logging.getLogger("grpclib.server").setLevel(logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
