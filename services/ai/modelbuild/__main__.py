"""`python -m services.ai.modelbuild [--out DIR] [--cache DIR]`: build the model repository;
`--full OUT` also writes the configuration for a full (GPU) Triton build into OUT (full.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.ai.modelbuild import REPORT, build, full, prerequisites


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("var/model_repository"))
    parser.add_argument("--cache", type=Path, default=Path("var/cache/modelbuild"))
    parser.add_argument(
        "--full",
        type=Path,
        metavar="OUT",
        help="also write the full-Triton (ONNX Runtime backend, CUDA/TensorRT) repository into OUT",
    )
    parser.add_argument(
        "--full-only", action="store_true", help="with --full: derive it from an existing --out build"
    )
    args = parser.parse_args()
    if args.full is not None and args.full_only:
        print(f"full-Triton repository: {args.full} ({', '.join(full.derive(args.out, args.full))})")
        return 0
    try:
        prerequisites.check()
    except prerequisites.MissingPrerequisite as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    timings = build(args.out, args.cache)
    report = json.loads((args.out / REPORT).read_text())
    print(f"model repository: {args.out} ({sum(timings.values()):.0f} s: {timings})")
    for engine, result in report["leave_one_engine_out"].items():
        print(f"synthetic voice, held-out engine {engine}: AUC {result['auc']:.3f}")
    if args.full is not None:
        print(f"full-Triton repository: {args.full} ({', '.join(full.derive(args.out, args.full))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
