#!/usr/bin/env bash
# Prove that the README's commands work on a machine that has never seen the project.
#
#   bash tools/fresh_machine.sh [ROOTFS] [COMMAND]      (as root; default COMMAND: bash .ci/run)
#
# SHARE_GO_CACHE=1 lends it this machine's Go module and build caches (the pinned Go tools then
# compile in about a minute instead of 10-40 on two busy cores; nothing else is shared).
# KEEP=1 keeps the previous run's clone with its ignored files (.venv, var/, node_modules) and
# only moves it to the new HEAD: for re-running after a fix, not for the proof itself.
#
# Builds (once) a minimal Debian bookworm with debootstrap into ROOTFS (default
# /var/tmp/meetmesh-fresh-root), gives it this machine kind's toolchains the way the kind ships
# them outside Debian's packages (Python 3.11 under pyenv, Go under /usr/local/go, Node 20, and
# Java 17 with Maven from Debian), clones the committed HEAD into it with ../shared beside it, and
# runs COMMAND there in a chroot with CI=true. No PostgreSQL, Redis, Chromium, TTS engine, Go tool,
# npm module or virtualenv exists inside before the project's own set-up installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTFS=${1:-/var/tmp/meetmesh-fresh-root}
COMMAND=${2:-bash .ci/run}
[ "$(id -u)" -eq 0 ] || { echo "fresh_machine: run as root (debootstrap and chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "fresh_machine: apt-get install debootstrap" >&2; exit 2; }

if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase --include=ca-certificates,git,make,curl,xz-utils,procps,gcc,g++,libc6-dev \
    bookworm "$ROOTFS" http://deb.debian.org/debian
fi
# the toolchains this machine kind has outside Debian's packages
mkdir -p "$ROOTFS/usr/local" "$ROOTFS/root"
[ -d "$ROOTFS/usr/local/go" ] || cp -a /usr/local/go "$ROOTFS/usr/local/go"
if [ ! -d "$ROOTFS/root/.pyenv/versions/3.11.7" ]; then
  mkdir -p "$ROOTFS/root/.pyenv/versions"
  cp -a /root/.pyenv/versions/3.11.7 "$ROOTFS/root/.pyenv/versions/3.11.7"
fi
if [ ! -x "$ROOTFS/usr/bin/node" ]; then
  cp -a /usr/bin/node "$ROOTFS/usr/bin/node"
  mkdir -p "$ROOTFS/usr/lib/node_modules" && cp -a /usr/lib/node_modules/npm "$ROOTFS/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/bin/npx"
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# this machine kind's extra certificate authorities (its registries are reached through them)
mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
cp -a /usr/local/share/ca-certificates/. "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -d /etc/pip.conf ] || cp /etc/pip.conf "$ROOTFS/etc/pip.conf" 2>/dev/null || true
for fs in proc sys dev dev/pts; do mountpoint -q "$ROOTFS/$fs" || mount --bind "/$fs" "$ROOTFS/$fs"; done
SHARED=(proc sys dev dev/pts)
if [ "${SHARE_GO_CACHE:-0}" = 1 ]; then
  for cache in root/go/pkg/mod root/.cache/go-build; do
    mkdir -p "/$cache" "$ROOTFS/$cache"
    mountpoint -q "$ROOTFS/$cache" || mount --bind "/$cache" "$ROOTFS/$cache"
    SHARED+=("$cache")
  done
fi
trap 'for ((i=${#SHARED[@]}-1; i>=0; i--)); do umount -l "$ROOTFS/${SHARED[i]}" 2>/dev/null || true; done' EXIT
chroot "$ROOTFS" bash -c 'update-ca-certificates >/dev/null 2>&1; dpkg --configure -a >/dev/null 2>&1; command -v java >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven >/dev/null)'

# a clean clone of the committed HEAD, with shared/ beside it
WORK=$ROOTFS/work
if [ "${KEEP:-0}" = 1 ] && [ -d "$WORK/main/.git" ]; then
  git -C "$WORK/main" fetch -q "$PWD" HEAD && git -C "$WORK/main" reset -q --hard FETCH_HEAD
else
  rm -rf "$WORK" && mkdir -p "$WORK"
  git clone -q "$PWD" "$WORK/main"
fi
# the machine kind's npm settings (its certificate authorities)
for rc in /root/.npmrc /usr/etc/npmrc; do [ -f "$rc" ] && mkdir -p "$ROOTFS$(dirname "$rc")" && cp "$rc" "$ROOTFS$rc"; done
[ -d ../shared ] && cp -a ../shared "$WORK/shared"

started=$(date +%s)
CA=/etc/ssl/certs/ca-certificates.crt
chroot "$ROOTFS" env -i HOME=/root TERM=dumb CI=true SSL_CERT_FILE=$CA SSL_CERT_DIR=/etc/ssl/certs \
  NODE_EXTRA_CA_CERTS=$CA REQUESTS_CA_BUNDLE=$CA CURL_CA_BUNDLE=$CA \
  PATH=/root/.pyenv/versions/3.11.7/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c "cd /work/main && $COMMAND"
echo "fresh_machine: '$COMMAND' passed in $(( $(date +%s) - started )) s"
