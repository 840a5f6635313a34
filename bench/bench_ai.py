"""AI inference benchmarks against the real bundled Triton (CPU, python backend).

* ASR real-time factor: Moonshine base-en through Triton on 4-10 s utterances (target <= 0.06).
* Emotion faces/s with 8 concurrent callers of one face per request, Triton's dynamic batching on
  vs off.
* Emotion faces/s as the ai service classifies them for 8 live streams (batching.py: one request
  at a time for every stream's faces) against in-process ONNX Runtime (target >= 60%), and the
  batching gain (target >= 2x): against no batching anywhere (one face per request, the model
  loaded without dynamic batching) and, separately, against Triton-only batching (one face per
  request, Triton's dynamic batcher merging the requests). Every request goes as the ai service
  sends it, over the inference client's one ModelStreamInfer stream; the batcher is also measured
  on unary ModelInfer calls, and against its ceiling: lone 8-face requests sent one at a time (the
  batcher keeps one request in flight, so it cannot cycle faster than one such request).
* Triton path vs the same FER ONNX model called in-process with ONNX Runtime, batch 1 serial
  (target: Triton overhead <= 25%).
* Caption latency: speech streamed in real time through the ai service's Analyze stream; time from
  the last speech sample sent to the final caption arriving (target p95 <= 0.5 s), and from the
  first speech sample sent to the utterance's first interim caption (target <= 0.3 s).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from bench.support import child_env
from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from services.ai.api import AnalysisStreamService
from services.ai.batching import EmotionBatcher
from services.ai.inference import InferenceClient
from services.ai.live import LiveAnalysis, LiveOptions
from services.ai.model_admin import ModelAdmin
from services.ai.modelbuild import build, sources
from services.ai.models import Activity, AnalysisEvent, Segment
from services.ai.triton import TritonOptions, TritonServer
from services.kit import ServiceHost, ServiceIdentity, ServiceSpec, TokenService, channel
from services.kit.keys import generate
from services.stack.servers import free_port
from tests.ai.speech import FLITE_SENTENCES, comparable_words, flite, real_recordings

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "var" / "model_repository"


class _MemoryStore:
    """Results kept in memory: the latency bench measures inference and streaming, not a database."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    async def add_segment(self, segment: Segment) -> None:
        self.segments.append(segment)

    async def add_event(self, event: AnalysisEvent) -> None:
        pass

    async def add_activity(self, activity: Activity) -> None:
        pass


def _asr_clips() -> list[NDArray[Any]]:
    return [a for a, _ in real_recordings()] + [flite(" ".join(FLITE_SENTENCES[:2]))]


async def _asr_rtf(client: InferenceClient) -> float:
    clips = _asr_clips()
    await client.transcribe(clips[0])  # warm-up
    audio_s = compute_s = 0.0
    for clip in clips:
        started = time.perf_counter()
        await client.transcribe(clip)
        compute_s += time.perf_counter() - started
        audio_s += clip.size / 16000
    return compute_s / audio_s


def _in_process_asr_rtf(
    repository: Path, encoder_threads: int = 2, decoder_threads: int = 1
) -> tuple[float, float]:
    """The asr model's own code and ONNX files (moonshine.py), called in this process: wall-clock
    and CPU seconds per second of audio (CPU time is what contention from other work on a shared
    machine leaves alone). The default threads are the asr config.pbtxt's (encoder 2, decoder 1,
    threads that sleep rather than spin)."""
    version = repository / "asr" / "1"
    spec = importlib.util.spec_from_file_location("bench_moonshine", version / "moonshine.py")
    assert spec is not None
    assert spec.loader is not None
    moonshine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(moonshine)
    sessions = []
    for name, threads in (("encoder_model", encoder_threads), ("decoder_model_merged", decoder_threads)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions.append(
            ort.InferenceSession(str(version / f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
        )
    model = moonshine.Moonshine(*sessions, moonshine.vocabulary(str(version / "tokenizer.bin")))
    clips = _asr_clips()
    model.transcribe(clips[0])
    audio_s = compute_s = cpu_s = 0.0
    for clip in clips:
        started, cpu_started = time.perf_counter(), time.process_time()
        model.transcribe(np.ascontiguousarray(clip, dtype=np.float32))
        compute_s += time.perf_counter() - started
        cpu_s += time.process_time() - cpu_started
        audio_s += clip.size / 16000
    return float(compute_s / audio_s), float(cpu_s / audio_s)


async def _word_error_rates(client: InferenceClient) -> tuple[float, float]:
    """WER of Moonshine through Triton on flite (kal16) speech and on the real recordings."""
    import jiwer

    flite_hyp = [await client.transcribe(flite(s)) for s in FLITE_SENTENCES]
    real = real_recordings()
    real_hyp = [await client.transcribe(a) for a, _ in real]
    flite_wer = jiwer.wer(
        " ".join(map(comparable_words, FLITE_SENTENCES)), " ".join(map(comparable_words, flite_hyp))
    )
    real_wer = jiwer.wer(
        " ".join(comparable_words(t) for _, t in real), " ".join(map(comparable_words, real_hyp))
    )
    return flite_wer, real_wer


async def _faces_per_s(client: InferenceClient, model: str, callers: int = 8, seconds: float = 4.0) -> float:
    face = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 1), dtype=np.uint8)
    await client.emotions(face, model)
    done = 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await client.emotions(face, model)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.perf_counter() - started)


async def _streams_faces_per_s(
    classify: Any, streams: int = 8, faces_per_frame: int = 1, seconds: float = 4.0
) -> float:
    """Faces/s when ``streams`` live streams each classify their frames' faces back to back."""
    face = np.random.default_rng(2).integers(0, 256, (faces_per_frame, 64, 64, 1), dtype=np.uint8)
    await classify(face)
    done = 0
    stop = time.perf_counter() + seconds

    async def stream() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await classify(face)
            done += faces_per_frame

    started = time.perf_counter()
    await asyncio.gather(*(stream() for _ in range(streams)))
    return done / (time.perf_counter() - started)


def _in_process_faces_per_s(repository: Path, batch: int = 8, seconds: float = 3.0, parts: int = 1) -> float:
    """The same ONNX model in this process, ``batch`` faces per call on one session with one
    intra-op thread (sleeping, not spinning, between operators); with ``parts`` > 1 each batch is
    cut into that many parts run side by side on as many threads, as the emotion model's batch
    path does (templates/emotion/model.py)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(repository / "emotion" / "1" / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    faces = np.random.default_rng(3).integers(0, 256, (batch, 64, 64, 1), dtype=np.uint8)
    first, *rest = np.array_split(faces, parts)
    with ThreadPoolExecutor(max(parts - 1, 1)) as pool:

        def run() -> None:
            others = [pool.submit(session.run, None, {"input": part}) for part in rest]
            session.run(None, {"input": first})
            for other in others:
                other.result()

        run()
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            run()
            done += batch
        return done / (time.perf_counter() - started)


async def _emotion_batching(
    client: InferenceClient, repository: Path, batching: dict[str, Any], plain: dict[str, Any]
) -> tuple[float, float, float, float, float, float, float, float]:
    """Faces/s for 8 live streams of one face per frame: through the ai service's batcher, one
    request per face with Triton's dynamic batcher merging them, one request per face with the
    model loaded without dynamic batching (no batching anywhere), and in-process ONNX Runtime at
    batch 8 on one thread and in two halves on two threads (the model's batch path); measured in
    turns, so that other work on the machine weighs on each alike. Every request goes the way the
    ai service sends it (inference.py: over the client's one ModelStreamInfer stream); the batcher
    is also measured on unary calls, to show what the stream adds. Also the batcher's faces per
    request, and the rate of lone 8-face requests sent one at a time (the batcher's ceiling)."""
    batcher = EmotionBatcher(client.emotions)
    rounds = 3
    via_ai = via_unary = triton_only = unbatched = lone = local_1 = local_2 = 0.0
    try:
        for _ in range(rounds):
            via_ai += await _streams_faces_per_s(batcher.classify, seconds=1.5) / rounds
            # One stream of 8-face frames: lone 8-face requests, each sent when the last returns.
            lone += await _streams_faces_per_s(client.emotions, 1, 8, seconds=1.5) / rounds
            client.streaming = False
            unary = EmotionBatcher(client.emotions)
            try:
                via_unary += await _streams_faces_per_s(unary.classify, seconds=1.5) / rounds
            finally:
                client.streaming = True
                await unary.close()
            triton_only += await _streams_faces_per_s(client.emotions, seconds=1.5) / rounds
            await client.load("emotion", plain)
            unbatched += await _streams_faces_per_s(client.emotions, seconds=1.5) / rounds
            await client.load("emotion", batching)
            local_1 += _in_process_faces_per_s(repository, seconds=1.0) / rounds
            local_2 += _in_process_faces_per_s(repository, seconds=1.0, parts=2) / rounds
    finally:
        await batcher.close()
    per_request = batcher.stats.faces / max(batcher.stats.requests, 1)
    return via_ai, via_unary, triton_only, unbatched, lone, local_1, local_2, per_request


async def _execution_totals(client: InferenceClient, model: str) -> tuple[int, int]:
    """(inferences, nanoseconds spent executing them) of a model's loaded versions, from Triton."""
    faces = ns = 0
    for entry in await client.statistics(model):
        faces += int(entry.get("inference_count", 0))
        for batch in entry.get("batch_stats", []):
            ns += sum(
                int(batch.get(k, {}).get("ns", 0))
                for k in ("compute_input", "compute_infer", "compute_output")
            )
    return faces, ns


async def _emotion_throughput(client: InferenceClient, model: str) -> tuple[float, float]:
    """Client-observed faces/s with 8 callers, and faces per second of model execution in Triton."""
    before = await _execution_totals(client, model)
    observed = await _faces_per_s(client, model)
    after = await _execution_totals(client, model)
    return observed, (after[0] - before[0]) / max(after[1] - before[1], 1) * 1e9


def _libmoonshine_row() -> str:
    """``_libmoonshine_rtf`` in a child process. The wheel's native library uses instructions not
    every x86-64 CPU has: on an AMD EPYC with AVX2 and no AVX-512 (2026-12-02) it died with SIGILL,
    which ended the whole bench. Only this reference row needs it; the platform never loads it."""
    code = "from bench.bench_ai import _libmoonshine_rtf; print(_libmoonshine_rtf())"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True
    )
    if done.returncode == 0:
        return f"{float(done.stdout.split()[-1]):.3f}"
    if done.returncode < 0:
        reason = signal.Signals(-done.returncode).name
        return f"not measured: libmoonshine died with {reason} on this CPU"
    return f"not measured: {(done.stderr.strip().splitlines() or ['no output'])[-1][:200]}"


def _libmoonshine_rtf() -> float:
    """Moonshine as the wheel ships it (libmoonshine on the `.ort` files), in this process."""
    import ctypes

    import moonshine_cpp.moonshine_cpp as mc

    weights = sources.package_dir("moonshine_cpp") / "models" / "base-en"
    handle = mc.moonshine_lib.moonshine_load_model(
        str(weights / "encoder_model.ort").encode(),
        str(weights / "decoder_model_merged.ort").encode(),
        str(weights / "tokenizer.bin").encode(),
        mc.MOONSHINE_MODEL_TYPE_BASE,
    )
    audio_s = compute_s = 0.0
    try:
        for clip, _ in real_recordings():
            samples = np.ascontiguousarray(clip, dtype=np.float32)
            text = ctypes.c_char_p(0)
            started = time.perf_counter()
            mc.moonshine_lib.moonshine_transcribe(
                handle,
                samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                samples.size,
                ctypes.byref(text),
            )
            compute_s += time.perf_counter() - started
            audio_s += samples.size / 16000
    finally:
        mc.moonshine_lib.moonshine_free_model(handle)
    return compute_s / audio_s


async def _serial_latency(client: InferenceClient, n: int = 300) -> float:
    face = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 1), dtype=np.uint8)
    await client.emotions(face)
    started = time.perf_counter()
    for _ in range(n):
        await client.emotions(face)
    return (time.perf_counter() - started) / n


def _in_process_latency(repository: Path, n: int = 300) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(repository / "emotion" / "1" / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    face = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 1), dtype=np.uint8)
    session.run(None, {"input": face})
    started = time.perf_counter()
    for _ in range(n):
        session.run(None, {"input": face})
    return (time.perf_counter() - started) / n


async def _caption_latency(
    client: InferenceClient, options: LiveOptions
) -> tuple[list[float], list[float], list[float]]:
    """Seconds from sending the last speech sample of an utterance to its final caption arriving,
    from sending its first speech sample to its first interim caption arriving, and from its last
    speech sample to its synthetic-voice score arriving.

    A final caption's `end_ms` is where the VAD saw speech stop plus its 120 ms pad, a caption's
    `start_ms` where it saw speech start minus its 120 ms pad; the wall-clock time at which that
    sample was sent is looked up from the send log.
    """
    tokens = TokenService(generate(), service_key=generate())
    host = ServiceHost(_spec(client, options), tokens, shutdown_grace_s=1.0)
    await host.start()
    # Analyze is internal: the bench calls it as media does, with a service token.
    ch = channel(f"127.0.0.1:{host.grpc_port}", ServiceIdentity(tokens, "media"))
    latencies: list[float] = []
    first_interims: list[float] = []
    # End of utterance -> its synthetic-voice score (what a host's alert waits for; media and
    # signaling add one relay each on the way to the host).
    score_latencies: list[float] = []
    chunk = 320  # 20 ms
    try:
        stub = analysis_stream_grpc.AnalysisStreamServiceStub(ch)
        silence = np.zeros(16000, dtype=np.float32)
        pcm = (np.concatenate([p for s in FLITE_SENTENCES for p in (flite(s), silence)]) * 32767).astype(
            "<i2"
        )
        for round_ in range(2):
            sent_at: list[float] = []  # wall time at which chunk i was sent
            arrivals: list[tuple[float, int]] = []
            interims: dict[int, tuple[float, int]] = {}  # utterance -> (arrival, start_ms)
            ends: dict[int, int] = {}  # utterance -> end_ms of its final caption
            scores: list[tuple[float, int]] = []  # (arrival, utterance) of synthetic-voice scores
            async with stub.Analyze.open() as stream:
                await stream.send_message(
                    pb.AnalyzeRequest(
                        config=pb.StreamConfig(
                            participant=f"meetings/bench/participants/p{round_}",
                            sample_rate_hertz=16000,
                            encoding=pb.AUDIO_ENCODING_LINEAR16,
                            captions=True,
                            synthetic_voice=True,
                        )
                    )
                )

                async def receive(
                    stream: object = stream,
                    arrivals: list[tuple[float, int]] = arrivals,
                    interims: dict[int, tuple[float, int]] = interims,
                    ends: dict[int, int] = ends,
                    scores: list[tuple[float, int]] = scores,
                ) -> None:
                    async for event in stream:  # type: ignore[attr-defined]
                        if event.HasField("synthetic_voice"):
                            scores.append((time.perf_counter(), event.synthetic_voice.utterance_id))
                        elif event.HasField("caption") and event.caption.is_final:
                            arrivals.append((time.perf_counter(), event.caption.end_ms))
                            ends[event.caption.utterance_id] = event.caption.end_ms
                        elif event.HasField("caption"):
                            caption = event.caption
                            interims.setdefault(caption.utterance_id, (time.perf_counter(), caption.start_ms))

                receiver = asyncio.create_task(receive())
                started = time.perf_counter()
                for i, start in enumerate(range(0, pcm.size, chunk)):
                    await asyncio.sleep(max(0.0, started + i * 0.02 - time.perf_counter()))  # real time
                    await stream.send_message(
                        pb.AnalyzeRequest(audio=pb.AudioChunk(data=pcm[start : start + chunk].tobytes()))
                    )
                    sent_at.append(time.perf_counter())
                await stream.end()
                await receiver
            for arrived, end_ms in arrivals:
                last_speech_chunk = min(max(end_ms - 120, 0) * 16 // chunk, len(sent_at) - 1)
                latencies.append(arrived - sent_at[last_speech_chunk])
            for arrived, start_ms in interims.values():
                first_speech_chunk = min((start_ms + 120) * 16 // chunk, len(sent_at) - 1)
                first_interims.append(arrived - sent_at[first_speech_chunk])
            for arrived, utterance in scores:
                if utterance in ends:
                    last_speech_chunk = min(max(ends[utterance] - 120, 0) * 16 // chunk, len(sent_at) - 1)
                    score_latencies.append(arrived - sent_at[last_speech_chunk])
    finally:
        ch.close()
        await host.stop()
    return latencies, first_interims, score_latencies


def _spec(client: InferenceClient, options: LiveOptions) -> ServiceSpec:
    live = LiveAnalysis(client, _MemoryStore(), options)  # type: ignore[arg-type]
    return ServiceSpec(name="ai-bench", handlers=[AnalysisStreamService(live)])


async def _run() -> None:
    if not (BUILT / "BUILD.json").is_file():
        build(BUILT, ROOT / "var" / "cache" / "modelbuild")
    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp) / "model_repository"
        shutil.copytree(BUILT, repository, copy_function=shutil.copy)
        server = TritonServer(
            TritonOptions(repository, Path(tmp) / "work", grpc_port=free_port(), supervise=False)
        )
        await server.start()
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine)")
        client = InferenceClient(server.url, timeout_s=60)
        try:
            rtf = await _asr_rtf(client)
            flite_wer, real_wer = await _word_error_rates(client)
            print(f"ASR word error rate: flite kal16 {flite_wer:.1%}, real recordings {real_wer:.1%}")
            print(f"ASR real-time factor (Moonshine base-en via Triton): {rtf:.3f}  (target <= 0.06)")

            local_rtf, _ = _in_process_asr_rtf(repository)
            print(
                f"ASR real-time factor, same ONNX model and code in-process: {local_rtf:.3f}: "
                f"Triton overhead {(rtf / local_rtf - 1) * 100:.0f}%  (target <= 25%)"
            )
            _, cpu_rtf = _in_process_asr_rtf(repository, encoder_threads=1)
            print(f"ASR CPU seconds per audio second, in-process on one thread: {cpu_rtf:.3f}")
            print(f"ASR real-time factor, libmoonshine on the wheel's .ort files: {_libmoonshine_row()}")

            admin = ModelAdmin(client, repository)
            batching_config = admin.config("emotion", [1])
            plain_config = admin.config("emotion", [1])
            plain_config.pop("dynamic_batching", None)
            batched, batched_exec = await _emotion_throughput(client, "emotion")
            await client.load("emotion", plain_config)
            unbatched, unbatched_exec = await _emotion_throughput(client, "emotion")
            await client.load("emotion", batching_config)
            print(
                f"emotion, 8 callers one face per request, at the client: {batched:.0f} faces/s with "
                f"Triton's dynamic batching, {unbatched:.0f} without = {batched / unbatched:.2f}x"
            )
            print(
                f"emotion, model execution inside Triton: {batched_exec:.0f} faces/s batched, "
                f"{unbatched_exec:.0f} unbatched: {batched_exec / unbatched_exec:.2f}x"
            )

            triton_s = await _serial_latency(client)
            local_s = _in_process_latency(repository)
            print(
                f"emotion, batch 1 serial: Triton {triton_s * 1000:.2f} ms, in-process ONNX Runtime "
                f"{local_s * 1000:.2f} ms: Triton overhead {(triton_s / local_s - 1) * 100:.0f}% "
                f"(+{(triton_s - local_s) * 1000:.2f} ms/request)  (target <= 25%)"
            )

            (
                via_ai,
                via_unary,
                triton_only,
                unbatched,
                lone,
                local_1,
                local_2,
                per_request,
            ) = await _emotion_batching(client, repository, batching_config, plain_config)
            print(
                f"emotion batching gain, 8 live streams of one face per frame: the ai service's "
                f"batcher {via_ai:.0f} faces/s ({per_request:.1f} faces per request) vs no batching "
                f"anywhere (one face per request, the model without dynamic batching) "
                f"{unbatched:.0f} faces/s: {via_ai / unbatched:.2f}x  (target >= 2x)"
            )
            print(
                f"emotion, the batcher's ceiling: lone 8-face requests one at a time (no callers to "
                f"wake or gather) {lone:.0f} faces/s, {lone / unbatched:.2f}x no batching anywhere; "
                f"the batcher reaches {via_ai / lone * 100:.0f}% of it"
            )
            print(
                f"emotion batching gain against Triton-only batching (one face per request, Triton's "
                f"dynamic batcher merging them) {triton_only:.0f} faces/s: {via_ai / triton_only:.2f}x; "
                f"Triton-only against none: {triton_only / unbatched:.2f}x"
            )
            print(
                f"emotion, the batcher's requests over the client's one ModelStreamInfer stream "
                f"{via_ai:.0f} faces/s vs each a unary ModelInfer call {via_unary:.0f} faces/s: "
                f"{via_ai / via_unary:.2f}x"
            )
            print(
                f"emotion via the ai service, 8 streams, vs in-process ONNX Runtime batch 8: one "
                f"thread {local_1:.0f} faces/s: {via_ai / local_1 * 100:.0f}% (target >= 60%); two "
                f"threads, two halves side by side as the model's batch path {local_2:.0f} faces/s: "
                f"{via_ai / local_2 * 100:.0f}%"
            )

            for label, options in (
                ("with interim captions", LiveOptions()),
                ("finals only", LiveOptions(interim_every_s=3600)),
            ):
                finals, interims, scores = await _caption_latency(client, options)
                latencies = sorted(finals)
                p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
                print(
                    f"caption latency {label}, end of utterance -> final ({len(latencies)} utterances): "
                    f"median {statistics.median(latencies):.2f} s, p95 {p95:.2f} s  (target p95 <= 0.5 s)"
                )
                if interims:
                    ordered = sorted(interims)
                    print(
                        f"caption latency {label}, speech onset -> first interim ({len(ordered)} "
                        f"utterances): median {statistics.median(ordered):.2f} s, max "
                        f"{ordered[-1]:.2f} s  (target <= 0.3 s)"
                    )
                if scores:
                    scores.sort()
                    p95 = scores[min(len(scores) - 1, round(0.95 * (len(scores) - 1)))]
                    print(
                        f"synthetic-voice alert latency {label}, end of utterance -> score at the ai "
                        f"service ({len(scores)} utterances): median {statistics.median(scores):.2f} s, "
                        f"p95 {p95:.2f} s  (target p95 <= 2 s at the host)"
                    )
        finally:
            await client.close()
            await server.stop()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
