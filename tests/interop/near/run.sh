#!/usr/bin/env bash
# NEAR E2EE interoperability: our Rust implementation against nearai-inference-sdk (PyPI),
# both key types (ed25519 v2, ecdsa), both directions, JSON and SSE bodies.
# Exit 0 = all checks passed (or a loud SKIPPED when the package index is unreachable);
# any mismatch exits non-zero.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

py=""
for cand in "$HOME/.pyenv/versions/3.12.1/bin/python3" "$(command -v python3.12 || true)" "$HOME/.pyenv/versions/3.13.0/bin/python3" "$(command -v python3.13 || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ]; then py="$cand"; break; fi
done
if [ -z "$py" ]; then echo "FAILED: no Python >= 3.12 found (nearai-inference-sdk needs it)"; exit 1; fi

venv="${TMPDIR:-/tmp}/teep-interop-near-venv"
if [ ! -x "$venv/bin/python" ]; then "$py" -m venv "$venv"; fi
if ! "$venv/bin/python" -c "import nearai_inference_sdk" 2>/dev/null; then
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" 2>"$venv.pip.log"; then
    if grep -qiE "connection|resolve|network|timed out|temporary failure|no matching distribution" "$venv.pip.log"; then
      echo "==================================================================="
      echo "SKIPPED: NEAR E2EE interop: pip cannot reach the package index"
      echo "==================================================================="
      exit 0
    fi
    cat "$venv.pip.log"; echo "FAILED: pip install"; exit 1
  fi
fi

(cd "$root" && cargo build -q -p teep-tests --example e2ee_near)
export TEEP_E2EE_NEAR_BIN="$root/target/debug/examples/e2ee_near"
exec "$venv/bin/python" "$here/test_interop.py"
