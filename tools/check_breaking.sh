#!/usr/bin/env bash
# buf breaking (FILE rules) against the contract baseline:
#   $BREAKING_AGAINST if set, else the commit in .ci/contract-baseline (the main a change started
#   from), else the parent commit. Skipped only when there is no earlier commit with protos/.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${BREAKING_AGAINST:-}"
if [ -z "$ref" ] && [ -s .ci/contract-baseline ]; then
  ref="$(tr -d '[:space:]' < .ci/contract-baseline)"
fi
if [ -z "$ref" ]; then
  ref="HEAD~1"
fi
if ! git rev-parse --verify --quiet "${ref}^{commit}" >/dev/null; then
  echo "baseline $ref is not in this clone's history; comparing with the parent commit"
  ref="HEAD~1"
fi
if ! git rev-parse --verify --quiet "${ref}^{commit}" >/dev/null || [ -z "$(git ls-tree -d "$ref" protos 2>/dev/null)" ]; then
  echo "no earlier contract to compare with; skipping buf breaking"
  exit 0
fi
echo "buf breaking against $ref"
PATH="$PWD/.venv/bin:$PATH" buf breaking protos --against ".git#ref=$(git rev-parse "$ref"),subdir=protos"
