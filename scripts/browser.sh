#!/usr/bin/env bash
# Install headless Chromium and its driver (Debian's chromium + chromium-driver, and fonts-liberation so
# screenshots show text on a bare machine) for the browser tests of the HTML report. Does nothing when
# chromium and chromedriver are on PATH. Never fails the setup: without them the browser tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo -n)
else
  echo "browser.sh: not root and no sudo, cannot install chromium; the browser tests will skip"
  exit 0
fi

if command -v apt-get >/dev/null \
  && "${SUDO[@]}" apt-get update -qq >/dev/null \
  && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-liberation >/dev/null; then
  echo "browser.sh: installed $(chromium --version 2>/dev/null || echo chromium)"
else
  echo "browser.sh: could not install chromium and chromium-driver with apt-get; the browser tests will skip"
fi
exit 0
