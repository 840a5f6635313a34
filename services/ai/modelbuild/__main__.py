"""`python -m services.ai.modelbuild [--out DIR] [--cache DIR]`: build the model repository."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.ai.modelbuild import REPORT, build, prerequisites


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("var/model_repository"))
    parser.add_argument("--cache", type=Path, default=Path("var/cache/modelbuild"))
    args = parser.parse_args()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
