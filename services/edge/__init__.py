"""The built-in edge: gRPC-web, JSON/REST transcoding and the `/rtc` WebSocket proxy, driven by the
descriptor set (`gen/meetmesh.binpb`). `create_app` builds the ASGI app; `server.main` runs it."""

from services.edge.app import Edge, create_app
from services.edge.config import EdgeSettings

__all__ = ["Edge", "EdgeSettings", "create_app"]
