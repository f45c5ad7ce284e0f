#!/usr/bin/env bash
# Create bench/.peers/venv holding the peer tools the run benchmarks compare
# against (Prefect 3, doit) plus pyinstrument for profiling. It is a venv of
# its own so none of these ever enter the project's uv.lock.
#
#   bash bench/peers/setup.sh          # create or update
#   bash bench/peers/setup.sh --fresh  # delete and recreate
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
venv="$bench/.peers/venv"
python="${BENCH_PEERS_PYTHON:-3.11}"

if [[ "${1:-}" == "--fresh" ]]; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    uv venv --quiet --python "$python" "$venv"
fi
# fastapi 0.155 dropped Body(min_items=...), which Prefect 3.8's server still
# passes at import time, so the ephemeral server would not start.
# --compile-bytecode: write .pyc files now, so no timed run pays for compiling.
uv pip install --quiet --compile-bytecode --python "$venv/bin/python" \
    'prefect>=3,<4' 'fastapi<0.155' 'doit>=0.36' 'pyinstrument>=4'
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("prefect", "fastapi", "doit", "pyinstrument"):
    print(f"{name} {md.version(name)}")
PY
