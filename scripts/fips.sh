#!/usr/bin/env bash
# The FIPS build (README, "FIPS build"): installs what AWS-LC's FIPS module
# needs (Go, CMake, Perl) when missing, builds the `fips` variant and
# checks it: the dependency graph (one aws-lc-rs, in FIPS mode, under
# rustls too; no ring), clippy, the core test suite and the vectors, the
# module's service indicator for every step of a seal and an open, and a
# CLI round trip whose `--version` and report say FIPS mode is on.
#   scripts/fips.sh
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "--- fips: $*" >&2; }

need=()
command -v go >/dev/null || need+=(golang-go)
command -v cmake >/dev/null || need+=(cmake)
command -v perl >/dev/null || need+=(perl)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
FIPS=(--locked --no-default-features --features fips)

step "dependency graph: one aws-lc-rs, with feature fips, rustls with feature fips, no ring"
tree=$(cargo tree "${FIPS[@]}" -p envstream-cli -e features -i aws-lc-rs)
grep -q 'aws-lc-rs feature "fips"' <<<"$tree"
grep -q 'rustls feature "fips"' <<<"$tree"
all=$(cargo tree "${FIPS[@]}" -p envstream-cli --prefix none -e normal)
[ "$(grep '^aws-lc-rs v' <<<"$all" | sed 's/ (\*)$//' | sort -u | wc -l)" = 1 ] \
    || { echo "more than one aws-lc-rs in the FIPS build" >&2; exit 1; }
if grep -q '^ring v' <<<"$all"; then
    echo "ring is in the FIPS build" >&2
    exit 1
fi
echo "one aws-lc-rs, with feature fips (rustls's too); rustls with feature fips; no ring" >&2

step "a build with fips and rustcrypto does not compile, and says why"
if out=$(cargo check --locked -p envstream --no-default-features --features fips,rustcrypto 2>&1); then
    echo "fips + rustcrypto compiled" >&2
    exit 1
fi
grep -q "cannot be combined with \`rustcrypto\`" <<<"$out"

step "clippy on the FIPS build (-D warnings)"
cargo clippy --locked -p envstream --all-targets --no-default-features --features fips -- -D warnings
cargo clippy "${FIPS[@]}" -p envstream-cli --all-targets -- -D warnings
cargo clippy --locked -p envstream-fips-indicator --features fips -- -D warnings

step "core test suite and the vectors, FIPS build"
cargo test --locked -p envstream --no-default-features --features fips

step "the module's service indicator for each step of a seal and an open"
indicator=$(cargo run --locked -q -p envstream-fips-indicator --features fips)
echo "$indicator"
# docs/SECURITY.md ("FIPS") records these verdicts; a module that answers
# otherwise fails here, so the page cannot go stale silently.
for want in "LocalWrapSeal .* approved" "ChunkSeal .* NOT approved" "ChunkOpen .* approved" \
    "StreamKeys .* approved" "LocalKek .* approved" "chunk 3 (final: true) .* approved" \
    "byte-identical to envstream's"; do
    grep -q -- "$want" <<<"$indicator" || { echo "indicator: expected '$want'" >&2; exit 1; }
done

step "CLI: --version, a round trip, the report, the refusals"
cargo build "${FIPS[@]}" -p envstream-cli
ES="$PWD/target/debug/envstream"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    "$ES" --version
    "$ES" --version | grep -q "^crypto: FIPS build: every primitive in AWS-LC FIPS .*, FIPS mode on$"
    "$ES" --version | grep -q "^TLS (AWS requests): rustls with AWS-LC's FIPS provider (FIPS-approved suites only)$"
    "$ES" --version | grep -q "^backends: aws-lc (auto: aws-lc"
    "$ES" keygen -o k.key 2>/dev/null
    head -c 5000000 /dev/urandom > plain
    "$ES" seal --key-file k.key --report seal.json -o sealed plain
    "$ES" open --key-file k.key --report open.json sealed | cmp - plain
    for r in seal.json open.json; do
        python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["fips"]; assert f["fips_build"] and f["fips_mode"] and f["tls_fips_provider"], f; assert f["module"].startswith("AWS-LC FIPS "), f' "$r"
    done
    expect2() { # exit 2 and a message naming the reason
        local why=$1; shift
        set +e; err=$("$ES" "$@" 2>&1 >/dev/null); code=$?; set -e
        [ "$code" = 2 ] || { echo "expected exit 2 from $*, got $code: $err" >&2; exit 1; }
        grep -q -- "$why" <<<"$err" || { echo "expected '$why' from $*: $err" >&2; exit 1; }
        [ "$(wc -l <<<"$err")" = 1 ] || { echo "not one line: $err" >&2; exit 1; }
    }
    expect2 "outside AWS-LC's FIPS module" seal --backend ring --key-file k.key -o x plain
    expect2 "outside AWS-LC's FIPS module" open --backend rustcrypto --key-file k.key sealed
    expect2 "keygen --recipient cannot be used in a FIPS build" keygen --recipient -o r.id
    expect2 "keygen --sign cannot be used in a FIPS build" keygen --sign -o s.key
    vec="$OLDPWD/docs/vectors"
    install -m 600 "$vec/keys/key1.key" key1.key
    expect2 "a signed stream cannot be used in a FIPS build" open --key-file key1.key "$vec/good/signed_ed25519.envs"
    expect2 "--recipient cannot be used in a FIPS build" seal --recipient "$vec/keys/identity1.id.pub" -o x plain
    # FIPS endpoints: refused with a custom endpoint, or where there are none.
    (
        export AWS_USE_FIPS_ENDPOINT=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
            AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
        AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_REGION=us-east-1 \
            expect2 "cannot be combined" seal --kms-key arn:aws:kms:us-east-1:123456789012:key/x -o x plain
        AWS_REGION=eu-west-1 \
            expect2 "no FIPS endpoint" seal --kms-key arn:aws:kms:eu-west-1:123456789012:key/x -o x plain
    )
    [ ! -e x ]
    echo "FIPS build: --version and reports say FIPS mode on; round trip ok; refusals ok" >&2
)
