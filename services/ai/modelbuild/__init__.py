"""Builds the Triton model repository the ai service serves (`make models`)."""

from services.ai.modelbuild.repository import MODELS, REPORT, build

__all__ = ["MODELS", "REPORT", "build"]
