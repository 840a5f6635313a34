"""Train and evaluate the synthetic-speech detector; export it as ONNX.

Model: per-utterance spectral statistics (`voicefeatures.features`) -> standardisation ->
logistic regression. Evaluation is leave-one-engine-out: for each TTS engine, train on real
speech of the training speakers and the other engines, test on held-out real speakers against the
held-out engine. The deployed model is trained on every engine except `DEPLOY_HELDOUT_ENGINE`, so
the test suite can check it on an engine it has never seen.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from services.ai.modelbuild import speech_corpus
from services.ai.modelbuild.speech_corpus import ENGINES, REAL, Clip
from services.ai.modelbuild.voicefeatures import features

DEPLOY_HELDOUT_ENGINE = "festival"
ALERT_THRESHOLD = 0.8
_REAL_LINES = 400
_PER_VOICE = 40


@dataclass
class Dataset:
    x: NDArray[Any]
    synthetic: NDArray[Any]  # 1 for TTS
    source: NDArray[Any]
    heldout_real: NDArray[Any]

    @classmethod
    def of(cls, clips: list[Clip]) -> Dataset:
        return cls(
            np.stack([features(c.audio) for c in clips]),
            np.array([c.source != REAL for c in clips], dtype=np.int64),
            np.array([c.source for c in clips]),
            np.array([c.source == REAL and speech_corpus.is_heldout_real(c.group) for c in clips]),
        )


def _fit(x: NDArray[Any], y: NDArray[Any]) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
    return scaler, clf


def train_mask(data: Dataset, heldout_engine: str) -> NDArray[Any]:
    real_train = (data.source == REAL) & ~data.heldout_real
    mask: NDArray[Any] = real_train | ((data.source != REAL) & (data.source != heldout_engine))
    return mask


def evaluate(data: Dataset) -> dict[str, dict[str, float]]:
    """Leave-one-engine-out AUC, held-out real speakers against the held-out engine."""
    results: dict[str, dict[str, float]] = {}
    for engine in ENGINES:
        train = train_mask(data, engine)
        test = data.heldout_real | (data.source == engine)
        scaler, clf = _fit(data.x[train], data.synthetic[train])
        scores = clf.predict_proba(scaler.transform(data.x[test]))[:, 1]
        y = data.synthetic[test]
        results[engine] = {
            "auc": float(roc_auc_score(y, scores)),
            "test_real": int((y == 0).sum()),
            "test_synthetic": int((y == 1).sum()),
            "train_clips": int(train.sum()),
        }
    return results


def to_onnx(scaler: StandardScaler, clf: LogisticRegression, dims: int) -> onnx.ModelProto:
    """features [N, D] -> score [N, 1] = sigmoid(((x - mean) / scale) @ w + b)."""
    inits = [
        numpy_helper.from_array(scaler.mean_.astype(np.float32), "mean"),
        numpy_helper.from_array(scaler.scale_.astype(np.float32), "scale"),
        numpy_helper.from_array(clf.coef_.T.astype(np.float32), "w"),
        numpy_helper.from_array(clf.intercept_.astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("MatMul", ["z", "w"], ["logit0"]),
        helper.make_node("Add", ["logit0", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "synthetic_speech",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", dims])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="meetmesh.modelbuild"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build(cache: Path) -> tuple[onnx.ModelProto, dict[str, object]]:
    """Builds the corpus, evaluates, trains the deployed model; returns it and the report."""
    started = time.monotonic()
    lines = speech_corpus.fillets_lines(_REAL_LINES)
    clips = speech_corpus.real_clips(lines, cache)
    for engine in ENGINES:
        clips += speech_corpus.synthetic_clips(engine, lines, _PER_VOICE)
    data = Dataset.of(list(speech_corpus.augment(clips, seed=7)))
    report: dict[str, object] = {
        "model": "log-mel statistics (0-4 kHz) + logistic regression",
        "evaluation": "leave-one-engine-out; real test speakers are held out of training too",
        "clips": {s: int((data.source == s).sum()) for s in (REAL, *ENGINES)},
        "heldout_real_clips": int(data.heldout_real.sum()),
        "leave_one_engine_out": evaluate(data),
        "deployed": {"trained_without_engine": DEPLOY_HELDOUT_ENGINE, "alert_threshold": ALERT_THRESHOLD},
    }
    train = train_mask(data, DEPLOY_HELDOUT_ENGINE)
    scaler, clf = _fit(data.x[train], data.synthetic[train])
    report["seconds"] = round(time.monotonic() - started, 1)
    return to_onnx(scaler, clf, data.x.shape[1]), report


def write_report(report: dict[str, object], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n")
