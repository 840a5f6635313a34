"""The ai service's client of Triton (tritonclient's asyncio gRPC client) and its typed model calls.

Triton failures become the kit's errors here and nowhere else: an unreachable server is
UNAVAILABLE, an unknown model or version NOT_FOUND, a request the model rejects INVALID_ARGUMENT.
The channel reconnects by itself, so the service recovers as soon as Triton is back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
from numpy.typing import NDArray
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from services.kit import FailedPrecondition, InvalidArgument, MeetmeshError, NotFound, Unavailable
from services.kit.errors import Reason

from . import metrics

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VAD_WINDOW = 512
VAD_CONTEXT = 64


def map_error(exc: InferenceServerException, model: str) -> MeetmeshError:
    """Translates a Triton error into the kit's error hierarchy."""
    status = str(exc.status() or "")
    message = str(exc.message() or "")
    lowered = message.lower()
    if "UNAVAILABLE" in status or "DEADLINE_EXCEEDED" in status or "failed to connect" in lowered:
        return Unavailable(
            "the inference server is unavailable; retry later",
            reason=Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE,
        )
    if "unknown model" in lowered or "is not found" in lowered or "NOT_FOUND" in status:
        return NotFound(f"model {model!r} (or that version) is not available")
    if "INVALID_ARG" in status:
        return InvalidArgument([("model", message[:300])], f"model {model!r} rejected the input")
    if "failed to load" in lowered or "INTERNAL" in status:
        return FailedPrecondition(
            f"model {model!r}: {message[:300]}", reason=Reason.ERROR_REASON_FAILED_PRECONDITION
        )
    return Unavailable(f"inference failed: {message[:200]}")


class InferenceClient:
    """Calls models on one Triton server."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url)

    async def close(self) -> None:
        await self._client.close()

    async def infer(
        self, model: str, inputs: Mapping[str, NDArray[Any]], outputs: Sequence[str], version: str = ""
    ) -> dict[str, NDArray[Any]]:
        tensors = []
        for name, value in inputs.items():
            dtype = "BYTES" if value.dtype == np.object_ else np_to_triton_dtype(value.dtype)
            tensor = grpcclient.InferInput(name, list(value.shape), dtype)
            tensor.set_data_from_numpy(value)
            tensors.append(tensor)
        wanted = [grpcclient.InferRequestedOutput(name) for name in outputs]
        started = time.perf_counter()
        try:
            result = await self._client.infer(
                model, tensors, model_version=version, outputs=wanted, client_timeout=self.timeout_s
            )
        except InferenceServerException as exc:
            metrics.INFERENCE_FAILURES.labels(model).inc()
            error = map_error(exc, model)
            metrics.TRITON_READY.set(0 if isinstance(error, Unavailable) else 1)
            raise error from None
        metrics.INFERENCE_SECONDS.labels(model).observe(time.perf_counter() - started)
        metrics.TRITON_READY.set(1)
        return {name: result.as_numpy(name) for name in outputs}

    # -- typed model calls ---------------------------------------------------------------------
    async def voice_activity(
        self, audio: NDArray[Any], state: NDArray[Any], context: NDArray[Any]
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Speech probability per 32 ms window of `audio` (a multiple of 512 samples at 16 kHz)."""
        out = await self.infer(
            "vad",
            {"audio": audio, "state": state, "context": context},
            ("probabilities", "state_out", "context_out"),
        )
        return out["probabilities"], out["state_out"], out["context_out"]

    async def transcribe(self, audio: NDArray[Any]) -> str:
        out = await self.infer("asr", {"audio": np.ascontiguousarray(audio, dtype=np.float32)}, ("text",))
        return bytes(out["text"].reshape(-1)[0]).decode("utf-8", errors="replace")

    async def transcribe_tokens(
        self, audio: NDArray[Any], draft: NDArray[Any] | None = None
    ) -> tuple[str, NDArray[Any]]:
        """Text and token ids of `audio`; `draft`, the token ids of an earlier decode of its start
        (an interim's), saves decoder steps without changing the result."""
        inputs = {"audio": np.ascontiguousarray(audio, dtype=np.float32)}
        if draft is not None and draft.size:
            inputs["draft"] = np.ascontiguousarray(draft, dtype=np.int64)
        out = await self.infer("asr", inputs, ("text", "tokens"))
        return bytes(out["text"].reshape(-1)[0]).decode("utf-8", errors="replace"), out["tokens"].reshape(-1)

    async def synthetic_score(self, audio: NDArray[Any]) -> float:
        out = await self.infer(
            "synthetic_voice", {"audio": np.ascontiguousarray(audio, dtype=np.float32)}, ("score",)
        )
        return float(out["score"].reshape(-1)[0])

    async def faces(self, rgb: NDArray[Any]) -> NDArray[Any]:
        """Face boxes [n, 4] (x, y, width, height), largest first."""
        out = await self.infer(
            "face_detector", {"image": np.ascontiguousarray(rgb, dtype=np.uint8)}, ("boxes",)
        )
        return out["boxes"].reshape(-1, 4)

    async def emotions(self, faces: NDArray[Any], model: str = "emotion") -> NDArray[Any]:
        """Emotion probabilities [n, 7] for faces [n, 64, 64, 1] in [-1, 1]."""
        out = await self.infer(
            model, {"face": np.ascontiguousarray(faces, dtype=np.float32)}, ("probabilities",)
        )
        return out["probabilities"]

    # -- repository ----------------------------------------------------------------------------
    async def repository_index(self) -> list[dict[str, Any]]:
        try:
            index = await self._client.get_model_repository_index(as_json=True)
        except InferenceServerException as exc:
            raise map_error(exc, "") from None
        return list(index.get("models", []))

    async def model_config(self, model: str) -> dict[str, Any]:
        try:
            config = await self._client.get_model_config(model, as_json=True)
        except InferenceServerException as exc:
            raise map_error(exc, model) from None
        return dict(config.get("config", config))

    async def load(self, model: str, config: Mapping[str, Any] | None = None) -> None:
        try:
            await self._client.load_model(model, config=json.dumps(config) if config is not None else None)
        except InferenceServerException as exc:
            error = map_error(exc, model)
            if isinstance(error, Unavailable):
                raise error from None
            # Triton keeps serving what it served before a failed load.
            raise FailedPrecondition(
                f"model {model!r} failed to load: {str(exc.message())[:300]}",
                reason=Reason.ERROR_REASON_FAILED_PRECONDITION,
            ) from None

    async def unload(self, model: str) -> None:
        try:
            await self._client.unload_model(model)
        except InferenceServerException as exc:
            raise map_error(exc, model) from None

    async def statistics(self, model: str) -> list[dict[str, Any]]:
        try:
            stats = await self._client.get_inference_statistics(model, as_json=True)
        except InferenceServerException as exc:
            raise map_error(exc, model) from None
        return list(stats.get("model_stats", []))
