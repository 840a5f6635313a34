"""The meetmesh Python SDK."""
