#!/usr/bin/env bash
# Create .venv and install tb-netviz with everything the demo and the tests need.
# CPU-only torch is installed first and pinned, so that nothing pulls in a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
as_root() { if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    if [ "$apt_updated" = "0" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
    # Debian ships venv separately (python3-venv); install it if the first try fails.
    "$PYTHON" -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; "$PYTHON" -m venv .venv; }
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install torch==2.13.0
"${PIP[@]}" install -c constraints.txt -e ".[dev]"
# DeepSpeed (the ZeRO tests) builds against the torch just installed: no build isolation, which
# would fetch another torch. Its communication op is compiled at first use into
# .venv/torch_extensions (tests/sharded/deepspeed_run.py points TORCH_EXTENSIONS_DIR there).
"${PIP[@]}" install -c constraints.txt --no-build-isolation deepspeed

# The dashboard's tests need Chromium (driven by Playwright, never `playwright install`)
# and Node.js (node's built-in test runner).
if [ "${NETVIZ_SKIP_BROWSER:-0}" != "1" ]; then
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    command -v node >/dev/null 2>&1 || apt_install nodejs
fi
echo "tb-netviz: environment ready in .venv"
