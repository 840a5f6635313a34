"""The ai service's client of Triton and its typed model calls.

Inference (several calls per second for every live stream) goes over the kit's lean HTTP/2 client
(``services/kit/grpc_h2.py``) with Triton's own protobuf messages: 0.1-0.3 ms less CPU per call
than tritonclient's grpcio client (one face: 0.34-0.38 -> 0.25-0.28 ms; eight: 0.74-0.95 -> 0.42-0.78
ms, the caller's work included; docs/ai.md). Requests up to ``STREAM_MAX_BYTES`` share one
long-lived ``ModelStreamInfer`` call (``_InferStream``), which spares Triton a gRPC call per request;
larger ones, and any the stream cannot answer, take a unary ``ModelInfer`` call. The rare
model-repository calls (load, unload, index, config, statistics) and the readiness check are unary
calls on the same connection: one connection to Triton, no second gRPC stack (until 2026-12 they
went through tritonclient's grpcio client, with its own connection and threads).

Triton failures become the kit's errors here and nowhere else: an unreachable server is
UNAVAILABLE, an unknown model or version NOT_FOUND, a request the model rejects INVALID_ARGUMENT.
The connection is opened again on the next call, so the service recovers as soon as Triton is back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message
from grpclib.const import Status
from numpy.typing import NDArray
from tritonclient.grpc import service_pb2
from tritonclient.utils import (
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

if TYPE_CHECKING:
    from services.kit.grpc_h2 import Connection, _Stream

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VAD_WINDOW = 512
VAD_CONTEXT = 64


_SERVICE = "/inference.GRPCInferenceService/"
_MODEL_STREAM_INFER = _SERVICE + "ModelStreamInfer"
#: Requests up to this size go over the client's one long-lived ModelStreamInfer call; larger ones
#: (images, long audio) each take a unary call of their own, so that they never hold up the small,
#: frequent ones (VAD windows, emotion batches) behind them on the one stream.
STREAM_MAX_BYTES = 256 * 1024


class _StreamFailed(Exception):
    """The stream gave no answer to a request: the request is asked again over a unary call. Triton's
    stream reports an error as text only, without its status code; the unary call gives it the code
    (and a stream that ended, with a connection lost or told to go away, answers nothing)."""


class _CallFailed(Exception):
    """A unary call to Triton that did not succeed, with its status."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__(status.message)
        self.status = status

    def error(self, model: str) -> MeetmeshError:
        return map_status(self.status.code.name, self.status.message or "no reply", model)


M = TypeVar("M", bound=Message)


class _InferStream:
    """One long-lived ``ModelStreamInfer`` call on the kit's HTTP/2 connection to Triton. Each request
    goes out as one message of it, tagged with an id; a reader hands each reply to the caller waiting
    for that id, whatever the order the replies come in. A unary call costs Triton a gRPC call of its
    own (call setup, headers, trailers): over this stream the ai service's batched emotion requests
    ran about 12% faster, its one-face ones 8% (docs/ai.md). The stream is opened on first use and
    again after it ends."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._connection: Connection | None = None
        self._stream: _Stream | None = None
        # request id -> (the stream it went out on, its caller's future)
        self._pending: dict[str, tuple[_Stream, asyncio.Future[service_pb2.ModelInferResponse]]] = {}
        self._ids = itertools.count(1)
        self._opening = asyncio.Lock()
        self._sending = asyncio.Lock()
        self._readers: set[asyncio.Task[None]] = set()
        self.ended: RpcStatus | None = None  # how the last stream to end ended

    async def infer(
        self, request: service_pb2.ModelInferRequest, timeout_s: float
    ) -> service_pb2.ModelInferResponse:
        """Triton's reply to ``request``; TimeoutError past ``timeout_s``; _StreamFailed when the
        stream gives no answer."""
        async with asyncio.timeout(timeout_s):
            connection, stream = await self._open()
            request.id = request_id = str(next(self._ids))
            payload = request.SerializeToString()
            future = asyncio.get_running_loop().create_future()
            self._pending[request_id] = (stream, future)
            try:
                async with self._sending:  # one message at a time: a message never interleaves another
                    try:
                        await connection.send_message(stream, payload, end=False)
                    except BaseException:
                        # Interrupted (a deadline, a cancelled caller) perhaps part-way through the
                        # message: nothing more can follow it on this stream. Reset it; the requests
                        # waiting on it ask again, and the next one opens a new stream.
                        connection.cancel(stream, RpcStatus(Status.CANCELLED, "a message was cut short"))
                        raise
                if stream.done and not future.done():
                    raise _StreamFailed("the stream ended")
                return await future
            finally:
                self._pending.pop(request_id, None)

    async def _open(self) -> tuple[Connection, _Stream]:
        async with self._opening:
            connection, stream = self._connection, self._stream
            if connection is not None and stream is not None and not stream.done:
                if not connection.closed:
                    return connection, stream
                connection.half_close(stream)  # told to go away: finish there, go on on a new one
            try:
                connection = await self._upstream.connection()
                stream = await connection.open_stream(_MODEL_STREAM_INFER, [], None)
            except OSError as exc:
                raise _StreamFailed(str(exc)) from None
            if stream is None:
                raise _StreamFailed("no room for a stream")
            self._connection, self._stream = connection, stream
            reader = asyncio.get_running_loop().create_task(
                self._read(connection, stream), name="triton-stream"
            )
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
            return connection, stream

    async def _read(self, connection: Connection, stream: _Stream) -> None:
        try:
            async for event in connection.events(stream):
                if isinstance(event, RpcStatus):
                    self.ended = event  # the last event
                if not isinstance(event, bytes):
                    continue
                reply = service_pb2.ModelStreamInferResponse.FromString(event)
                waiting = self._pending.get(reply.infer_response.id)
                future = waiting[1] if waiting is not None else None
                if future is None and reply.error_message:
                    # An error not tied to a request it names: every request on it asks again.
                    self._fail(stream, reply.error_message)
                elif future is not None and not future.done():
                    if reply.error_message:
                        future.set_exception(_StreamFailed(reply.error_message))
                    else:
                        future.set_result(reply.infer_response)
        finally:
            if self._stream is stream:
                self._connection = self._stream = None
            self._fail(stream, "the stream ended")

    def _fail(self, stream: _Stream, why: str) -> None:
        """Every request still waiting for an answer on ``stream`` asks again."""
        for sent_on, future in self._pending.values():
            if sent_on is stream and not future.done():
                future.set_exception(_StreamFailed(why))

    def close(self) -> None:
        if self._connection is not None and self._stream is not None:
            self._connection.cancel(self._stream, RpcStatus(Status.CANCELLED, "the client closed"))
        self._connection = self._stream = None
        for reader in self._readers:
            reader.cancel()


def map_status(status: str, message: str, model: str) -> MeetmeshError:
    """A gRPC status (its name) and message from Triton as the kit's error."""
    lowered = message.lower()
    if "UNAVAILABLE" in status or "DEADLINE_EXCEEDED" in status or "failed to connect" in lowered:
        return Unavailable(
            "the inference server is unavailable; retry later",
            reason=Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE,
        )
    if (
        "unknown model" in lowered
        or "is not found" in lowered
        or "NOT_FOUND" in status
        or ("requested model" in lowered and "is not available" in lowered)  # statistics
    ):
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
        host, _, port = url.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"  # "[::1]:8001" is an IPv6 address
        self._calls = Upstream(host, int(port), pool_size=1, user_agent="meetmesh-ai")
        self._stream = _InferStream(self._calls)
        self.streaming = True  # requests up to STREAM_MAX_BYTES go over the one stream
        self.calls = {"stream": 0, "unary": 0}  # requests answered each way (for tests and the bench)
        self.closed = False

    async def close(self) -> None:
        """Ends the stream and the connections; a request still waiting, or made after, is
        UNAVAILABLE (it opens no connection again)."""
        self.closed = True
        self._stream.close()
        self._calls.close()

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
        if self.closed:
            raise Unavailable("the inference client is closed")
        started = time.perf_counter()
        response = None
        timeout_s = self.timeout_s
        if self.streaming and request.ByteSize() <= STREAM_MAX_BYTES:
            try:
                response = await self._stream.infer(request, self.timeout_s)
            except _StreamFailed:
                # Asked again below, in the time left, where an error gets its status code.
                request.ClearField("id")
                timeout_s = max(timeout_s - (time.perf_counter() - started), 0.001)
            except TimeoutError:
                metrics.INFERENCE_FAILURES.labels(model).inc()
                metrics.TRITON_READY.set(0)
                raise map_status("DEADLINE_EXCEEDED", "deadline exceeded", model) from None
            else:
                self.calls["stream"] += 1
        if response is None:  # _rpc refuses it once the client is closed
            response = await self._unary(request, model, timeout_s)
            self.calls["unary"] += 1
        metrics.INFERENCE_SECONDS.labels(model).observe(time.perf_counter() - started)
        metrics.TRITON_READY.set(1)
        return _outputs(response, outputs, model)

    async def _unary(
        self, request: service_pb2.ModelInferRequest, model: str, timeout_s: float
    ) -> service_pb2.ModelInferResponse:
        try:
            return await self._rpc("ModelInfer", request, service_pb2.ModelInferResponse, timeout_s)
        except _CallFailed as failed:
            metrics.INFERENCE_FAILURES.labels(model).inc()
            error = failed.error(model)
            metrics.TRITON_READY.set(0 if isinstance(error, Unavailable) else 1)
            raise error from None

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
        """Emotion probabilities [n, 7] for faces [n, 64, 64, 1] of uint8 grayscale pixels
        (``vision.face_tensor``); any other dtype is a TypeError, since casting floats to pixels
        would classify garbage."""
        if faces.dtype != np.uint8:
            raise TypeError(f"faces must be uint8 grayscale pixels, not {faces.dtype}")
        out = await self.infer(model, {"face": np.ascontiguousarray(faces)}, ("probabilities",))
        return out["probabilities"]

    # -- unary calls: ModelInfer (above), the repository and readiness -------------------------
    async def _rpc(self, method: str, request: Message, reply_type: type[M], timeout_s: float | None) -> M:
        """One unary call of Triton's ``method``; raises ``_CallFailed`` with the status (and
        Unavailable once the client is closed)."""
        if self.closed:
            raise Unavailable("the inference client is closed")
        reply: bytes | None = None
        status = RpcStatus(Status.UNKNOWN)
        async for event in call(
            self._calls, _SERVICE + method, request.SerializeToString(), [], timeout_s, what="Triton"
        ):
            if isinstance(event, bytes):
                reply = event
            elif isinstance(event, RpcStatus):
                status = event
        if status.code is not Status.OK or reply is None:
            raise _CallFailed(status)
        return cast(M, reply_type.FromString(reply))

    async def _json(
        self, method: str, request: Message, reply_type: type[Message], model: str
    ) -> dict[str, Any]:
        """A repository reply as JSON-like data (proto field names, as Triton's own clients give)."""
        try:
            reply = await self._rpc(method, request, reply_type, self.timeout_s)
        except _CallFailed as failed:
            raise failed.error(model) from None
        data: dict[str, Any] = json_format.MessageToDict(reply, preserving_proto_field_name=True)
        return data

    async def ready(self) -> bool:
        """Whether Triton answers and says it is ready (False while it cannot be reached)."""
        if self.closed:
            return False
        try:
            reply = await self._rpc(
                "ServerReady",
                service_pb2.ServerReadyRequest(),
                service_pb2.ServerReadyResponse,
                self.timeout_s,
            )
        except _CallFailed:
            return False
        return bool(reply.ready)

    async def repository_index(self) -> list[dict[str, Any]]:
        index = await self._json(
            "RepositoryIndex", service_pb2.RepositoryIndexRequest(), service_pb2.RepositoryIndexResponse, ""
        )
        return list(index.get("models", []))

    async def model_config(self, model: str) -> dict[str, Any]:
        config = await self._json(
            "ModelConfig", service_pb2.ModelConfigRequest(name=model), service_pb2.ModelConfigResponse, model
        )
        return dict(config.get("config", config))

    async def load(self, model: str, config: Mapping[str, Any] | None = None) -> None:
        """Loads (or reloads) ``model``, with ``config`` in place of its config.pbtxt when given.
        No deadline: a large model takes as long as it takes."""
        request = service_pb2.RepositoryModelLoadRequest(model_name=model)
        if config is not None:
            request.parameters["config"].string_param = json.dumps(config)
        try:
            await self._rpc("RepositoryModelLoad", request, service_pb2.RepositoryModelLoadResponse, None)
        except _CallFailed as failed:
            error = failed.error(model)
            if isinstance(error, Unavailable):
                raise error from None
            # Triton keeps serving what it served before a failed load.
            raise FailedPrecondition(
                f"model {model!r} failed to load: {(failed.status.message or '')[:300]}",
                reason=Reason.ERROR_REASON_FAILED_PRECONDITION,
            ) from None

    async def unload(self, model: str) -> None:
        request = service_pb2.RepositoryModelUnloadRequest(model_name=model)
        request.parameters["unload_dependents"].bool_param = False
        try:
            await self._rpc("RepositoryModelUnload", request, service_pb2.RepositoryModelUnloadResponse, None)
        except _CallFailed as failed:
            raise failed.error(model) from None

    async def statistics(self, model: str) -> list[dict[str, Any]]:
        stats = await self._json(
            "ModelStatistics",
            service_pb2.ModelStatisticsRequest(name=model),
            service_pb2.ModelStatisticsResponse,
            model,
        )
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
