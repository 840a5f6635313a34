#!/usr/bin/env bash
# Debian packages the platform and its tests need beyond a stock Python machine.
# Idempotent; skips apt entirely when everything is already there.
set -euo pipefail
PACKAGES=(
  postgresql-client-common
  redis-tools
  chromium     # the browser test of signaling's /rtc (Playwright drives it; no browser download)
  fonts-wqy-microhei  # CJK glyphs for the web client's Simplified Chinese in headless Chromium
  janus        # make bench: the SFU baseline (videoroom plugin on loopback)
  coturn       # the TURN relay test of media (turnserver on loopback)
  # ai: text-to-speech engines and real Czech speech for training/testing the synthetic-voice detector
  espeak-ng
  flite
  festival
  festvox-kallpc16k
  festvox-czech-ph
  fillets-ng-data-cs
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
