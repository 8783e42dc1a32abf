#!/usr/bin/env bash
# Interop of teep's Rust Chutes E2EE with the independent Python client `chutes-e2ee` 0.1.0
# (pinned in requirements.txt, with pqcrypto 0.4.0) in its own virtual environment.
# Exits non-zero on any mismatch; prints a SKIPPED line and exits 0 only when pip cannot reach
# the package index.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
python="${PYTHON:-python3}"
venv="${CHUTES_INTEROP_VENV:-$root/target/interop/chutes-venv}"

cd "$root"
cargo build -q -p teep-tests --example e2ee_chutes
bin="$root/target/debug/examples/e2ee_chutes"

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"; then
        # Distinguish "no index reachable" (skip) from a real installation failure (fail).
        if ! "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$venv/probe" chutes-e2ee==0.1.0 \
            >/dev/null 2>&1; then
            echo "*** SKIPPED: Chutes E2EE interop: pip cannot reach the package index ***"
            rm -rf "$venv"
            exit 0
        fi
        echo "Chutes E2EE interop: pip install of the pinned requirements failed" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

E2EE_CHUTES_BIN="$bin" "$venv/bin/python" "$here/interop_test.py"
