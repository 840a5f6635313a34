"""Conversions between datetimes and protobuf Timestamps (always UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    value: datetime = ts.ToDatetime(tzinfo=UTC)
    return value


def from_epoch(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1_000_000_000))
    return ts
