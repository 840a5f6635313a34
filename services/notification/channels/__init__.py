"""The ways a message leaves: email (SMTP), SMS (a provider's HTTP API), Web Push, webhooks.

Every channel raises :class:`Transient` (retry later) or :class:`Permanent` (never retry: a
bounce, a refused number, a gone push subscription) when a delivery fails.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery attempt failed; ``status`` is the remote's code (SMTP or HTTP) when known."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Transient(DeliveryError):
    """Worth retrying (4xx SMTP, 5xx or 429 HTTP, timeouts, refused connections)."""


class Permanent(DeliveryError):
    """Not worth retrying (5xx SMTP bounce, 4xx HTTP from an SMS or push provider)."""


__all__ = ["DeliveryError", "Permanent", "Transient"]
