#!/usr/bin/env bash
# Installs everything sparkwing's development needs on a fresh Debian 12 machine:
# uv, every workspace distribution (editable) with the dev tools, the
# Debian packages the test suite drives (Chromium for the browser tests,
# the PostgreSQL 15 server whose throwaway clusters the sparkwing-postgres
# tests start, never started or enabled here; Node.js for Azurite), and the
# object-store emulators the plugin tests start: moto and fake-gcs-server
# come with the dev group, Azurite (pinned in tools/azurite) with npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${SPARKWING_PYTHON:-$(command -v python3)}"
PY="$("$PY" -c 'import sys; print(sys.executable)')"

# uv and uvx (the CI-vendor snippets in docs/ci, and their tests, call uvx).
if ! command -v uv >/dev/null 2>&1 || ! command -v uvx >/dev/null 2>&1; then
  command -v uv >/dev/null 2>&1 || "$PY" -m pip install --quiet --disable-pip-version-check uv
  # pip puts uv beside the interpreter; a pyenv shim or a PATH without that
  # folder would not find it, so link both where `uv run pytest` will.
  uv_bin="$(command -v uv || true)"
  if [[ -z $uv_bin ]]; then
    uv_bin="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/uv"
  fi
  scripts_dir="$(dirname "$(readlink -f "$uv_bin")")"
  if [[ $(id -u) -eq 0 ]]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
  mkdir -p "$bindir"
  for tool in uv uvx; do
    command -v $tool >/dev/null 2>&1 || ln -sf "$scripts_dir/$tool" "$bindir/$tool"
    command -v $tool >/dev/null 2>&1 || { echo "install.sh: $tool is in $scripts_dir; add it to PATH" >&2; exit 1; }
  done
fi

# Debian packages, only when missing (apt needs root).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
PG_BIN="${SPARKWING_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"
[[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || need+=(postgresql-15)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -q >/dev/null
    # The tests start their own throwaway PostgreSQL clusters: keep the package's
    # scripts from starting a system server (policy-rc.d 101 = "do not start").
    policy=""
    if [[ " ${need[*]} " == *" postgresql-15 "* && ! -e /usr/sbin/policy-rc.d ]]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-upgrade "${need[@]}" >/dev/null
    if [[ -n "$policy" ]]; then rm -f "$policy"; fi
  else
    echo "install.sh: please install these Debian packages: ${need[*]}" >&2
  fi
fi

# Bytecode is written now, for the dependencies and for the workspace's own
# (editable) sources: with PYTHONDONTWRITEBYTECODE=1, common in CI containers,
# nothing would ever write it, and every `sparkwing run` would compile each
# module it imports again (about twice the start-up time of `run hello`).
uv sync --all-packages --frozen --compile-bytecode --python "$PY"
uv run --frozen --no-sync python -m compileall -q -j 0 sparkwing-core/src sparkwing-cli/src sparkwing-server/src \
  plugins/*/src >/dev/null

# Azurite for sparkwing-azure's tests: reinstalled only when the lock file changed.
azurite=tools/azurite
if [[ ! -x $azurite/node_modules/.bin/azurite-blob ]] \
    || ! cmp -s $azurite/package-lock.json $azurite/node_modules/.sparkwing-lock.json; then
  command -v npm >/dev/null 2>&1 || { echo "install.sh: npm is needed for Azurite" >&2; exit 1; }
  npm ci --prefix $azurite --no-audit --no-fund --loglevel=error >/dev/null
  cp $azurite/package-lock.json $azurite/node_modules/.sparkwing-lock.json
fi
echo "install.sh: done. Run the tests with: uv run pytest"
