"""CORS for the configured origins (never the request's own Host reflected back)."""

from __future__ import annotations

from collections.abc import Iterable

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (
    "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, "
    "connect-protocol-version, connect-timeout-ms, x-request-id"
)
EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin, retry-after"
MAX_AGE = "86400"


class Cors:
    def __init__(self, origins: Iterable[str]) -> None:
        self._origins = {o.rstrip("/") for o in origins}
        self._any = "*" in self._origins

    def allowed(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin in self._origins)

    def response_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """Headers for an actual (non-preflight) response."""
        if not self.allowed(origin):
            return [("vary", "origin")] if origin else []
        assert origin is not None
        return [
            ("access-control-allow-origin", origin),
            ("access-control-expose-headers", EXPOSED_HEADERS),
            ("vary", "origin"),
        ]

    def preflight_headers(self, origin: str | None) -> list[tuple[str, str]] | None:
        """Headers for an OPTIONS preflight; None when the origin is not allowed."""
        if not self.allowed(origin):
            return None
        assert origin is not None
        return [
            ("access-control-allow-origin", origin),
            ("access-control-allow-methods", ALLOWED_METHODS),
            ("access-control-allow-headers", ALLOWED_HEADERS),
            ("access-control-max-age", MAX_AGE),
            ("vary", "origin"),
        ]
