"""Structured JSON logs that keep personal data out.

Services log events and ids, never names, emails, transcripts or tokens. Protobuf messages may be
logged (as arguments or ``extra`` values): they are written field by field, and a field the
contract marks ``(meetmesh.options.v1.sensitivity)`` personal or secret shows only "[personal]" or
"[secret]" (``policy.redacted``). As a safety net for free text, ``RedactingFilter`` also masks
anything that looks like an email address or a JWT, including in ``extra`` fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from google.protobuf.message import Message

from .policy import redacted

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask emails, JWTs and bearer credentials in ``text``."""
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
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


def configure(level: str = "INFO", json_output: bool = True) -> None:
    """Send every log record through the redacting filter, as JSON lines on stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_meetmesh", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._meetmesh = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    fmt: logging.Formatter = JsonFormatter() if json_output else plain
    handler.setFormatter(fmt)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # grpclib logs every application error with a traceback; our wrapper logs them once instead.
    logging.getLogger("grpclib.server").setLevel(logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
