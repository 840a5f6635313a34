"""The S3 server of the test session: SeaweedFS started by the project (``SeaweedS3Server``).

``MEETMESH_TEST_S3_ENDPOINT`` (``host:port``), ``MEETMESH_TEST_S3_ACCESS_KEY`` and
``MEETMESH_TEST_S3_SECRET_KEY`` point the suite at an existing S3 instead. Every session uses a
bucket of its own, so several runs can share one server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from services.kit.objects import ObjectStoreSettings
from services.stack import SeaweedS3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedS3Server | None]:
    """The session's SeaweedFS (None when the suite uses an external S3)."""
    if os.environ.get("MEETMESH_TEST_S3_ENDPOINT"):
        yield None
        return
    server = SeaweedS3Server()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def s3_settings(s3_server: SeaweedS3Server | None) -> ObjectStoreSettings:
    """Object-store settings for the session's S3 and its own bucket."""
    bucket = f"meetmesh-test-{uuid.uuid4().hex[:8]}"
    if s3_server is None:
        return ObjectStoreSettings(
            endpoint=os.environ["MEETMESH_TEST_S3_ENDPOINT"],
            access_key=os.environ.get("MEETMESH_TEST_S3_ACCESS_KEY", ""),
            secret_key=os.environ.get("MEETMESH_TEST_S3_SECRET_KEY", ""),
            bucket=bucket,
            timeout_s=2.0,
        )
    return ObjectStoreSettings(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        bucket=bucket,
        timeout_s=2.0,
    )
