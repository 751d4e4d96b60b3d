#!/usr/bin/env bash
# The whole test suite (the README's test command; .ci/run calls exactly this).
# Installs what it needs: Rust crates via cargo, and a project-local Python
# virtualenv (.venv) for the independent vector checker.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests never reach a real AWS endpoint: dummy credentials, no instance metadata.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*" >&2; }

step "workspace tests, both backends compiled in (aws-lc default + rustcrypto)"
cargo test --workspace --locked --features envstream/rustcrypto

step "library tests, pure-Rust backend only (no C toolchain)"
cargo test -p envstream --locked --no-default-features --features rustcrypto

step "independent Python implementation of docs/FORMAT.md against docs/vectors"
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import cryptography' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cryptography==44.0.2'
fi
"$VENV/bin/python" scripts/check_vectors.py --vectors docs/vectors
