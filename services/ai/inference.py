"""The ai service's client of Triton and its typed model calls.

Inference (``ModelInfer``, several calls per second for every live stream) goes over the kit's lean
HTTP/2 client (``services/kit/grpc_h2.py``) with Triton's own protobuf messages: 0.1-0.3 ms less
CPU per call than tritonclient's grpcio client (one face: 0.34-0.38 -> 0.25-0.28 ms; eight: 0.74-0.95
-> 0.42-0.78 ms, the caller's work included; docs/ai.md). The rare model-repository calls (load,
unload, index, config, statistics) stay on tritonclient's asyncio gRPC client.

Triton failures become the kit's errors here and nowhere else: an unreachable server is
UNAVAILABLE, an unknown model or version NOT_FOUND, a request the model rejects INVALID_ARGUMENT.
Both clients reconnect by themselves, so the service recovers as soon as Triton is back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
from grpclib.const import Status
from numpy.typing import NDArray
from tritonclient.grpc import service_pb2
from tritonclient.utils import (
    InferenceServerException,
    deserialize_bytes_tensor,
    np_to_triton_dtype,
    serialize_byte_tensor,
    triton_to_np_dtype,
)

from services.kit import FailedPrecondition, InvalidArgument, MeetmeshError, NotFound, Unavailable
from services.kit.errors import Reason
from services.kit.grpc_h2 import Upstream, call
from services.kit.rpc_status import RpcStatus

from . import metrics

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VAD_WINDOW = 512
VAD_CONTEXT = 64


_MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


def map_error(exc: InferenceServerException, model: str) -> MeetmeshError:
    """Translates a Triton error into the kit's error hierarchy."""
    return map_status(str(exc.status() or ""), str(exc.message() or ""), model)


def map_status(status: str, message: str, model: str) -> MeetmeshError:
    """A gRPC status (its name) and message from Triton as the kit's error."""
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
        host, _, port = url.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"  # "[::1]:8001" is an IPv6 address
        self._calls = Upstream(host, int(port), pool_size=1, user_agent="meetmesh-ai")

    async def close(self) -> None:
        self._calls.close()
        await self._client.close()

    async def infer(
        self, model: str, inputs: Mapping[str, NDArray[Any]], outputs: Sequence[str], version: str = ""
    ) -> dict[str, NDArray[Any]]:
        request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
        for name, value in inputs.items():
            tensor = request.inputs.add(name=name, shape=value.shape)
            if value.dtype == np.object_:
                tensor.datatype = "BYTES"
                encoded = serialize_byte_tensor(value)
                request.raw_input_contents.append(encoded.item() if encoded.size else b"")
            else:
                tensor.datatype = np_to_triton_dtype(value.dtype)
                request.raw_input_contents.append(np.ascontiguousarray(value).tobytes())
        for name in outputs:
            request.outputs.add(name=name)
        started = time.perf_counter()
        reply: bytes | None = None
        status = RpcStatus(Status.UNKNOWN)
        async for event in call(
            self._calls, _MODEL_INFER, request.SerializeToString(), [], self.timeout_s, what="Triton"
        ):
            if isinstance(event, bytes):
                reply = event
            elif isinstance(event, RpcStatus):
                status = event
        if status.code is not Status.OK or reply is None:
            metrics.INFERENCE_FAILURES.labels(model).inc()
            error = map_status(status.code.name, status.message or "no reply", model)
            metrics.TRITON_READY.set(0 if isinstance(error, Unavailable) else 1)
            raise error
        metrics.INFERENCE_SECONDS.labels(model).observe(time.perf_counter() - started)
        metrics.TRITON_READY.set(1)
        return _outputs(service_pb2.ModelInferResponse.FromString(reply), outputs, model)

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


def _outputs(
    response: service_pb2.ModelInferResponse, wanted: Sequence[str], model: str
) -> dict[str, NDArray[Any]]:
    """The wanted output tensors of a reply, as read-only arrays over its bytes."""
    found: dict[str, NDArray[Any]] = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=False):
        if tensor.name not in wanted:
            continue
        if tensor.datatype == "BYTES":
            array = deserialize_bytes_tensor(raw)
        else:
            array = np.frombuffer(raw, dtype=triton_to_np_dtype(tensor.datatype))
        found[tensor.name] = array.reshape(tuple(tensor.shape))
    missing = [name for name in wanted if name not in found]
    if missing:
        raise FailedPrecondition(
            f"model {model!r} answered without {', '.join(missing)}",
            reason=Reason.ERROR_REASON_FAILED_PRECONDITION,
        )
    return found
