"""Fixtures: the whole real-time path (meeting, signaling, media) on the real stores."""

from tests.rtc_helpers import rtc, rtc_platform  # noqa: F401 - the fixtures
