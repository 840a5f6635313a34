"""AIP-158 page tokens: opaque to clients, tied to the request that produced them.

A token encodes the keyset position (the sort key of the last item returned) and a fingerprint
of the request's other parameters; a token that was tampered with, or reused with different
parameters, is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from .errors import InvalidArgument

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _fingerprint(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def encode_token(position: list[Any], params: Any) -> str:
    raw = json.dumps({"p": position, "f": _fingerprint(params)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, params: Any) -> list[Any] | None:
    """The keyset position in ``token`` (None for the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        position = data["p"]
        fingerprint = data["f"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument([("page_token", "is not a token this service issued")]) from None
    if not isinstance(position, list) or fingerprint != _fingerprint(params):
        raise InvalidArgument([("page_token", "does not belong to this request")])
    return position


def decode_keyset(token: str, params: Any) -> tuple[datetime, str] | None:
    """A (time, id) keyset position from ``token``; None for the first page."""
    position = decode_token(token, params)
    if position is None:
        return None
    try:
        return datetime.fromisoformat(position[0]), str(position[1])
    except (ValueError, IndexError, TypeError):
        raise InvalidArgument([("page_token", "is not a token this service issued")]) from None


def keyset_page(
    rows: list[T], size: int, key: Callable[[T], tuple[datetime, str]], params: Any
) -> tuple[list[T], str]:
    """Trim ``rows`` (fetched with ``size + 1``) to a page and the token for the next one."""
    if len(rows) <= size:
        return rows, ""
    rows = rows[:size]
    when, ident = key(rows[-1])
    return rows, encode_token([when.isoformat(), ident], params)
