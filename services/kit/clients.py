"""Channels to other services, with the current call's deadline propagated."""

from __future__ import annotations

from grpclib.client import Channel


def channel(target: str) -> Channel:
    """A grpclib channel to ``host:port``."""
    host, _, port = target.rpartition(":")
    return Channel(host.strip("[]") or "127.0.0.1", int(port))
