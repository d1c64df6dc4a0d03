#!/usr/bin/env bash
# Set up .venv, train every demo on CPU (about 3 minutes on 2 cores), then serve
# the logs with TensorBoard and print the URL of the NetViz tab.
# Environment: LOGDIR (default runs/demo), PORT (default 6006), HOST (default 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
NETVIZ_SKIP_BROWSER=1 bash scripts/setup.sh

LOGDIR="${LOGDIR:-runs/demo}"
PORT="${PORT:-6006}"
HOST="${HOST:-127.0.0.1}"
.venv/bin/python -m demo --logdir "$LOGDIR"
echo
echo "NetViz is at http://$HOST:$PORT/#netviz  (Ctrl-C stops TensorBoard)"
exec .venv/bin/tensorboard --logdir "$LOGDIR" --host "$HOST" --port "$PORT" \
    --samples_per_plugin=netviz=0
