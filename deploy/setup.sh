#!/usr/bin/env bash
# The one set-up path: `make run`, `make test` and CI all go through it.
#
#   bash deploy/setup.sh [step ...]     steps: system go-tools python node models (default: all)
#
# Every step is idempotent and quick when its work is already done; each prints one progress line
# and how long it took. A prerequisite that cannot be installed stops the set-up with one line that
# names it and the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
VENV=${VENV:-.venv}
PYTHON_BOOT=${PYTHON_BOOT:-python3}
TOOLS_BIN=$ROOT/var/tools/bin
STEPS=(system go-tools python node models)
[ $# -gt 0 ] && STEPS=("$@")

fail() { printf 'setup: %s\n' "$*" >&2; exit 2; }
run_step() {
  local name=$1 started ms
  started=$(date +%s%N)
  printf '==> setup: %-9s ' "${name//_/-}"
  "step_$name"
  ms=$(( ($(date +%s%N) - started) / 1000000 ))
  printf 'done in %d.%01d s\n' $((ms / 1000)) $((ms % 1000 / 100))
}
quiet() {  # run a command, showing its output only when it fails
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# --- Debian packages ------------------------------------------------------------------------------
step_system() {
  local missing=() pkg
  mapfile -t wanted < <(grep -v '^\s*#' deploy/system-packages.txt | awk 'NF {print $1}')
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then printf '(all %d present) ' "${#wanted[@]}"; return; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "missing Debian packages: ${missing[*]} — install them as root: apt-get install ${missing[*]}"
    sudo=sudo
  fi
  command -v apt-get >/dev/null 2>&1 || fail "missing packages ${missing[*]} and no apt-get: install them with your system's package manager"
  printf '(installing %d: %s) ' "${#missing[@]}" "${missing[*]}"
  quiet $sudo apt-get update -qq || fail "apt-get update failed — check the network, then: make setup"
  quiet $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || fail "could not install ${missing[*]} — try: ${sudo:+sudo }apt-get install ${missing[*]}"
}

# --- Go tools (FerretDB, SeaweedFS), pinned by deploy/tools/<name>/go.mod -----------------------
step_go_tools() {
  command -v go >/dev/null 2>&1 || fail "Go is not installed (needed to build FerretDB and SeaweedFS): install Go 1.24+ from your distribution or go.dev"
  mkdir -p "$TOOLS_BIN"
  local dir name stamp sum built=()
  for dir in deploy/tools/*/; do
    name=$(basename "$dir")
    stamp=$TOOLS_BIN/.$name.stamp
    sum=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then continue; fi
    (cd "$dir" && GOBIN=$TOOLS_BIN GOFLAGS=-mod=mod quiet go install tool) \
      || fail "building the Go tool '$name' failed (see above) — retry with: make setup"
    echo "$sum" > "$stamp"
    built+=("$name")
  done
  [ ${#built[@]} -eq 0 ] && printf '(up to date) ' || printf '(built %s) ' "${built[*]}"
}

# --- Python virtual environment -------------------------------------------------------------------
step_python() {
  local stamp=$VENV/.installed sum
  sum=$(cat pyproject.toml requirements-nodeps.txt | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then printf '(up to date) '; return; fi
  command -v "$PYTHON_BOOT" >/dev/null 2>&1 || fail "Python 3.11+ is not installed: apt-get install python3 python3-venv"
  "$PYTHON_BOOT" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "Python 3.11+ is needed ($PYTHON_BOOT is $("$PYTHON_BOOT" -V 2>&1)): set PYTHON_BOOT=python3.11"
  if [ ! -x "$VENV/bin/python" ]; then
    quiet "$PYTHON_BOOT" -m venv "$VENV" || fail "could not create $VENV: apt-get install python3-venv"
  fi
  quiet "$VENV/bin/python" -m pip install --upgrade pip
  quiet "$VENV/bin/python" -m pip install -e '.[dev]' || fail "pip install failed (see above)"
  quiet "$VENV/bin/python" -m pip install --no-deps -r requirements-nodeps.txt || fail "pip install failed (see above)"
  echo "$sum" > "$stamp"
}

# --- npm modules (the TypeScript generator, the gRPC-web test client, the web client) ----------
step_node() {
  command -v npm >/dev/null 2>&1 || fail "Node.js 20+ with npm is not installed: apt-get install nodejs npm"
  local lock dir sum stamp did=()
  for lock in package-lock.json clients/*/package-lock.json; do
    [ -f "$lock" ] || continue
    dir=$(dirname "$lock")
    stamp=$dir/node_modules/.meetmesh-stamp
    sum=$(cat "$dir/package.json" "$lock" | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then continue; fi
    (cd "$dir" && quiet npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed in $dir (see above)"
    echo "$sum" > "$stamp"
    did+=("$dir")
  done
  [ ${#did[@]} -eq 0 ] && printf '(up to date) ' || printf '(installed %s) ' "${did[*]}"
}

# --- the Triton model repository ------------------------------------------------------------------
step_models() {  # built again when services/ai/modelbuild changed since (BUILD.json's "sources")
  PYTHONPATH=$ROOT/gen:$ROOT:$ROOT/clients/python quiet "$VENV/bin/python" -m services.ai.modelbuild --out var/model_repository \
    --if-stale || fail "the AI model build failed (see above) — retry with: make models"
}

for step in "${STEPS[@]}"; do
  declare -F "step_${step//-/_}" >/dev/null || fail "unknown step '$step' (steps: system go-tools python node models)"
  run_step "${step//-/_}"
done
