"""Structured JSON logs that keep personal data out.

Services log events and ids, never names, emails, transcripts or tokens. As a second line of
defence, ``RedactingFilter`` masks anything that looks like an email address or a JWT before a
record is written, including in ``extra`` fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask emails, JWTs and bearer credentials in ``text``."""
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub("Bearer [token]", text)
    return _EMAIL.sub("[email]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
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
