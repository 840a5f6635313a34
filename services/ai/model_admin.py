"""Model versions: what the repository holds, what Triton serves, and swapping between them.

Loading a version reloads the model with a config whose version policy names that version only:
Triton loads it beside the serving one, switches new requests to it once it is ready, and unloads
the old one after its in-flight requests finish. When the new version fails to load, the serving
version stays. The config comes from the repository's `config.pbtxt`, parsed with Triton's own
ModelConfig message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from services.kit import InvalidArgument, NotFound

from .inference import InferenceClient

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class VersionState:
    version: int
    state: str  # READY, LOADING, UNLOADING, UNAVAILABLE
    reason: str = ""


class ModelAdmin:
    def __init__(self, client: InferenceClient, repository: Path) -> None:
        self.client = client
        self.repository = repository

    def _model_dir(self, model: str) -> Path:
        path = self.repository / model
        if not _NAME.match(model) or not (path / "config.pbtxt").is_file():
            raise NotFound(f"model {model!r} is not in the repository")
        return path

    def repository_versions(self, model: str) -> list[int]:
        return sorted(
            int(p.name) for p in self._model_dir(model).iterdir() if p.is_dir() and p.name.isdigit()
        )

    def config(self, model: str, versions: list[int]) -> dict[str, Any]:
        config = text_format.Parse(
            (self._model_dir(model) / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        config.version_policy.specific.versions[:] = versions
        result: dict[str, Any] = json_format.MessageToDict(config, preserving_proto_field_name=True)
        return result

    async def list_models(self) -> dict[str, list[VersionState]]:
        """Every model of the repository with each version's state."""
        served: dict[str, dict[int, VersionState]] = {}
        for entry in await self.client.repository_index():
            if entry.get("version"):
                v = int(entry["version"])
                served.setdefault(entry["name"], {})[v] = VersionState(
                    v, entry.get("state", ""), entry.get("reason", "")
                )
        result: dict[str, list[VersionState]] = {}
        for path in sorted(self.repository.iterdir()):
            if (path / "config.pbtxt").is_file():
                states = served.get(path.name, {})
                for v in self.repository_versions(path.name):
                    states.setdefault(v, VersionState(v, "UNAVAILABLE"))
                result[path.name] = [states[v] for v in sorted(states)]
        return result

    async def serving(self, model: str) -> list[int]:
        return [s.version for s in (await self.list_models()).get(model, []) if s.state == "READY"]

    async def load_version(self, model: str, version: int) -> list[VersionState]:
        if version not in self.repository_versions(model):
            raise NotFound(f"model {model!r} has no version {version} in the repository")
        await self.client.load(model, self.config(model, [version]))
        return (await self.list_models())[model]

    async def unload_version(self, model: str, version: int) -> list[VersionState]:
        serving = await self.serving(model)
        if version not in serving:
            raise NotFound(f"version {version} of model {model!r} is not loaded")
        remaining = [v for v in serving if v != version]
        if remaining:
            await self.client.load(model, self.config(model, remaining))
        else:
            await self.client.unload(model)
        return (await self.list_models())[model]


def parse_version_name(name: str) -> tuple[str, int]:
    """`models/{model}/versions/{version}` -> (model, version)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "models" or parts[2] != "versions" or not parts[3].isdigit():
        raise InvalidArgument([("name", "must be models/{model}/versions/{version}")])
    return parts[1], int(parts[3])
