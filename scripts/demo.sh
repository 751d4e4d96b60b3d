#!/usr/bin/env bash
# The main job, end to end on a fresh machine: build, create a local key,
# seal a tar stream, inspect it, open it and compare with the original.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p envstream-cli
bin="$PWD/target/release/envstream"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
set -x
"$bin" keygen -o "$work/backup.key"
export ENVSTREAM_KEY_FILE="$work/backup.key"
tar -c -f - --exclude=./target --exclude=./.venv --exclude=./fuzz/target . > "$work/original.tar"
"$bin" seal --context purpose=demo --context host="$(hostname)" < "$work/original.tar" > "$work/backup.envs"
"$bin" inspect "$work/backup.envs"
"$bin" open --context purpose=demo < "$work/backup.envs" > "$work/restored.tar"
cmp "$work/original.tar" "$work/restored.tar"
set +x
echo "demo: round trip OK ($(wc -c < "$work/original.tar") bytes in, $(wc -c < "$work/backup.envs") bytes sealed)"
