"""One settings convention: each service's options live in its block, ``MEETMESH_<SERVICE>__*``,
beside where it listens; nothing names a setting that does not exist (no real environment is
touched: monkeypatch sets and restores the variables)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from services.ai.config import AiSettings
from services.edge.config import EdgeSettings
from services.kit import PlatformSettings
from services.media.config import MediaSettings
from services.meeting.config import MeetingSettings
from services.notification.config import NotificationSettings
from services.signaling.config import SignalingSettings
from services.user.config import UserSettings
from tools import gen_config_docs

ROOT = Path(__file__).resolve().parents[2]

# (settings class, the variable, the value set, the attribute path to read it back, the value read)
OPTIONS = [
    (UserSettings, "MEETMESH_USER__ARGON2_TIME_COST", "7", "user.argon2_time_cost", 7),
    (MeetingSettings, "MEETMESH_MEETING__CACHE_TTL_S", "42", "meeting.cache_ttl_s", 42.0),
    (AiSettings, "MEETMESH_AI__TRITON_URL", "triton.test:8001", "ai.triton_url", "triton.test:8001"),
    (NotificationSettings, "MEETMESH_NOTIFICATION__MAX_ATTEMPTS", "3", "notification.max_attempts", 3),
    (EdgeSettings, "MEETMESH_EDGE__PORT", "9800", "edge.port", 9800),
    (EdgeSettings, "MEETMESH_EDGE__RATE_LIMIT_TOKEN__BURST", "77", "edge.rate_limit_token.burst", 77),
    (SignalingSettings, "MEETMESH_SIGNALING__RESUME_GRACE_S", "3", "signaling.resume_grace_s", 3.0),
    (MediaSettings, "MEETMESH_MEDIA__SPOOL_RETRY_S", "9", "media.spool_retry_s", 9.0),
]


def _read(settings: BaseModel, path: str) -> object:
    value: object = settings
    for name in path.split("."):
        value = getattr(value, name)
    return value


@pytest.mark.parametrize(("cls", "variable", "raw", "path", "expected"), OPTIONS, ids=[o[1] for o in OPTIONS])
def test_a_services_own_option_is_read_from_its_block(
    monkeypatch: pytest.MonkeyPatch,
    cls: type[BaseSettings],
    variable: str,
    raw: str,
    path: str,
    expected: object,
) -> None:
    assert _read(cls(), path) != expected  # not the default already
    monkeypatch.setenv(variable, raw)
    assert _read(cls(), path) == expected


def test_the_block_holds_the_endpoint_and_the_options_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETMESH_USER__ARGON2_TIME_COST", "7")
    monkeypatch.setenv("MEETMESH_USER__GRPC_PORT", "18080")
    settings = UserSettings()
    assert (settings.user.grpc_port, settings.user.http_port) == (18080, 9080)  # http: the default
    assert settings.user.argon2_time_cost == 7
    assert settings.user.address == "127.0.0.1:18080"
    # A service started by `meetmesh up` widens the platform's settings to its own class
    # (services/<svc>/wiring.py): the platform's endpoint and the environment's options both hold.
    platform = PlatformSettings()
    assert platform.user.grpc_port == 18080 and not hasattr(platform.user, "argon2_time_cost")
    widened = UserSettings.of(platform)
    assert (widened.user.grpc_port, widened.user.argon2_time_cost) == (18080, 7)


# A variable with a block (`__`) in the docs or the deployment files: it must be a setting.
_NAMED = re.compile(r"MEETMESH_[A-Z0-9_]*?__[A-Z0-9_]*[A-Z0-9]")


def test_every_block_variable_the_docs_and_deployments_name_is_a_setting() -> None:
    text, missing = gen_config_docs.render()
    assert missing == []
    settings = set(re.findall(r"^\| `(MEETMESH_[A-Z0-9_]+)`", text, flags=re.MULTILINE))
    for block in ("USER", "MEETING", "AI", "NOTIFICATION", "EDGE", "SIGNALING", "MEDIA"):
        assert any(s.startswith(f"MEETMESH_{block}__") for s in settings), block
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "deploy").rglob("*.yaml")),
    ]
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        if "schemas" not in path.parts
        for name in _NAMED.findall(path.read_text())
        if name not in settings
    }
    assert not unknown, sorted(unknown)
