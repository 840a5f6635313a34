"""Face detection: OpenCV's frontal-face Haar cascade.

Input `image` UINT8 [h, w, 3] RGB; output `boxes` INT32 [n, 4] (x, y, width, height), largest first.
Haar cascades run on the CPU only; on a GPU Triton this model stays on the CPU.
"""

import os

import cv2
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        cv2.setNumThreads(1)
        path = os.path.join(os.path.dirname(__file__), "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError("face cascade failed to load")

    def _detect(self, rgb):
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        side = max(24, min(gray.shape) // 12)
        found = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        boxes = np.asarray(found, dtype=np.int32).reshape(-1, 4)
        return boxes[np.argsort(-(boxes[:, 2] * boxes[:, 3]))]

    def execute(self, requests):
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
            if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 24:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            "image must be [h, w, 3] RGB, at least 24 pixels",
                            pb_utils.TritonError.INVALID_ARG,
                        )
                    )
                )
                continue
            boxes = self._detect(np.ascontiguousarray(image, dtype=np.uint8))
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("boxes", boxes)]))
        return responses
