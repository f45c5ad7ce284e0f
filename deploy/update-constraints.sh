#!/bin/sh
# Regenerate deploy/constraints.txt from uv.lock: the exact version of every third-party
# distribution any workspace member needs (workspace members and the dev group left out;
# the image installs the members from their own wheels). Run it after every `uv lock`;
# tests/deploy/test_image_venv.py fails while the file and the lock disagree.
# Usage: deploy/update-constraints.sh [OUTPUT]   (default: deploy/constraints.txt)
set -eu
cd "$(dirname "$0")/.."
out="${1:-deploy/constraints.txt}"
uv export --frozen --all-packages --no-default-groups --no-emit-workspace --no-hashes \
    --format requirements.txt > "$out"
