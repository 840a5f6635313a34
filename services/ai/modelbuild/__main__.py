"""`python -m services.ai.modelbuild [--out DIR] [--cache DIR] [--if-stale]`: build the model
repository (with `--if-stale` only when DIR was not built by this code); `--full OUT` also writes
the configuration for a full (GPU) Triton build into OUT (full.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.ai.modelbuild import REPORT, build, full, prerequisites, repository


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
    parser.add_argument(
        "--if-stale", action="store_true", help="do nothing when --out was built by this code already"
    )
    args = parser.parse_args()
    if args.if_stale and repository.is_current(args.out):
        print(f"model repository: {args.out} (current)")
        return 0
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
    print(
        f"synthetic voice: {report['clips']} clips, each also after an Opus round trip; real speech:"
        f" {report['clips']['real']} clips, {report['real_speakers']} speakers,"
        f" {len(report['real_languages'])} languages; alert at score >= {report['alert_threshold']}"
        f" (calibrated for <= {report['target_false_alert_rate']:.0%} false alerts on real speech)"
    )
    for engine, result in report["leave_one_engine_out"].items():
        print(
            f"synthetic voice, held-out engine {engine}: AUC {result['auc']:.3f}, false alerts on"
            f" held-out real speech {result['false_alert_rate_real']:.2%} ({result['false_alerts_real']}),"
            f" {engine} clips alerted {result['detection_rate']:.0%}"
        )
    deployed = report["deployed"]
    print(
        f"synthetic voice, deployed model (trained without {deployed['trained_without_engine']}):"
        f" false alerts on {deployed['reserved_real_clips']} reserved real clips"
        f" {deployed['false_alert_rate_reserved_real']:.2%},"
        f" {deployed['trained_without_engine']} clips alerted {deployed['detection_rate_unseen_engine']:.0%}"
    )
    if args.full is not None:
        print(f"full-Triton repository: {args.full} ({', '.join(full.derive(args.out, args.full))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
