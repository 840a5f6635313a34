"""The meeting service's gRPC handlers, one module per concern (see docs/architecture.md)."""

from .meetings import MeetingService
from .recordings import RecordingRegistry
from .settings import MeetingSettingsLookup

__all__ = ["MeetingService", "MeetingSettingsLookup", "RecordingRegistry"]
