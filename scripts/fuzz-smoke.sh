#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short time.
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 20)
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the
# -Z sanitizer flags it needs. Seeds come from docs/vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi
for target in header open keyfile inspect mutate; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    case "$target" in
        keyfile) cp docs/vectors/keys/*.key docs/vectors/keys/*.pub docs/vectors/keys/*.id "$corpus"/ ;;
        mutate) printf "\x00\x00\x10\x03" > "$corpus/flip" ;;
        *) cp docs/vectors/good/*.envs docs/vectors/bad/*.envs "$corpus"/ ;;
    esac
    echo "fuzz-smoke: $target for ${secs}s" >&2
    (cd fuzz && cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 2>&1 | tail -n 12)
    # cargo fuzz exits non-zero on a crash; pipefail propagates it.
done
echo "fuzz-smoke: all targets ran clean" >&2
