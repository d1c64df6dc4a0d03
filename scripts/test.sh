#!/usr/bin/env bash
# Set up .venv and run the whole test suite: Python tests (pytest) and the
# dashboard's data-shaping tests (node's built-in runner). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if compgen -G "tests/frontend/*.test.mjs" >/dev/null; then
    node --test tests/frontend/
fi

mkdir -p test-artifacts
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" = "5" ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
