"""services/kit/timestamps.py: datetimes to protobuf Timestamps exactly as protobuf's own
FromDatetime makes them, on both sides of the epoch, at the ends of the range, in any zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.timestamps import from_timestamp, to_timestamp

CASES = [
    datetime(2026, 12, 2, 8, 30, 15, 123456, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch: nanos stay >= 0
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 6, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-8))),
]


@pytest.mark.parametrize("value", CASES, ids=str)
def test_to_timestamp_is_what_protobuf_makes(value: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value)
    assert to_timestamp(value) == expected
    assert from_timestamp(expected) == value


def test_a_naive_datetime_is_utc_and_none_stays_none() -> None:
    naive = datetime(2026, 12, 2, 8, 30, 15, 42)
    assert to_timestamp(naive) == to_timestamp(naive.replace(tzinfo=UTC))
    assert to_timestamp(None) is None
