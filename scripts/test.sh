#!/usr/bin/env bash
# The whole test suite (the README's test command; .ci/run calls exactly this).
# Installs what it needs: Rust crates via cargo, and a project-local Python
# virtualenv (.venv) with moto (the local KMS and S3) and the independent
# vector checker's dependency. Starts moto on a free loopback port, exports
# ENVSTREAM_TEST_KMS_ENDPOINT to the KMS and S3 tests (one server serves
# both), and stops it by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests never reach a real AWS endpoint: dummy credentials, no instance metadata.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*" >&2; }

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
pip_install() { "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@"; }

step "local KMS- and S3-compatible server: moto (pinned) in the project venv"
if ! "$VENV/bin/python" -c 'import moto, sys; sys.exit(moto.__version__ != "5.2.5")' 2>/dev/null \
    || [ ! -x "$VENV/bin/moto_server" ]; then
    pip_install 'moto[server]==5.2.5'
fi
MOTO_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
mkdir -p target
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > target/moto.log 2>&1 &
MOTO_PID=$!
stop_moto() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
trap stop_moto EXIT
export ENVSTREAM_TEST_KMS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for _ in $(seq 1 150); do
    if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "$ENVSTREAM_TEST_KMS_ENDPOINT/moto-api/" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto_server exited; see target/moto.log" >&2; cat target/moto.log >&2; exit 1
    fi
    sleep 0.2
done
"$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$ENVSTREAM_TEST_KMS_ENDPOINT/moto-api/" || { echo "moto did not answer on $ENVSTREAM_TEST_KMS_ENDPOINT" >&2; exit 1; }
echo "moto listening on $ENVSTREAM_TEST_KMS_ENDPOINT (pid $MOTO_PID)" >&2

step "workspace tests, both backends compiled in (aws-lc default + rustcrypto), tokio adapters, examples, doc-tests"
cargo test --workspace --locked --features envstream/rustcrypto,envstream/tokio

step "install path from the README: cargo install --locked --path crates/envstream-cli, then a round trip with the installed binary"
# --debug reuses this build's artefacts (a path install builds in the
# workspace's target/); the README's command differs only in the profile.
INSTALL_ROOT=target/install-check
rm -rf "$INSTALL_ROOT"
cargo install --quiet --locked --debug --path crates/envstream-cli --root "$INSTALL_ROOT"
(
    export PATH="$PWD/$INSTALL_ROOT/bin:$PATH"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    [ "$(command -v envstream)" = "$OLDPWD/$INSTALL_ROOT/bin/envstream" ]
    envstream keygen -o k.key 2>/dev/null
    head -c 3000000 /dev/urandom > plain
    envstream seal --key-file k.key -o sealed plain
    envstream open --key-file k.key sealed | cmp - plain
    echo "installed envstream ($(envstream --version)) seals and opens"
)

step "library tests, pure-Rust backend only (no C toolchain)"
cargo test -p envstream --locked --no-default-features --features pure

step "independent Python implementation of docs/FORMAT.md against docs/vectors"
# kyber-py: a pure-Python ML-KEM (FIPS 203) for the recipient vectors
# (FORMAT.md section 16); X25519 comes from cryptography, SHA-3 from hashlib.
if ! "$VENV/bin/python" -c 'import cryptography, blake3, kyber_py' 2>/dev/null; then
    pip_install 'cryptography==44.0.2' 'blake3==1.0.4' 'kyber-py==1.2.0'
fi
"$VENV/bin/python" scripts/check_vectors.py --vectors docs/vectors
