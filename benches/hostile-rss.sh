#!/usr/bin/env bash
# Peak RSS of `open` and `inspect` on hostile files must stay small: no
# input makes envstream allocate by what a header claims. Asserts a bound.
#   benches/hostile-rss.sh [LIMIT_KIB]     (default 32768 = 32 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-32768}"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --locked -q -p envstream-cli
bin="$PWD/target/debug/envstream"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin" keygen -o k.key 2>/dev/null
printf 'x' > one
"$bin" seal --key-file k.key --chunk-size 16M -o big16 one
python3 - <<'PY'
import struct
def prefix(chunk, hlen):
    return b"ENVSTRM\0\x01\x00\x01" + struct.pack(">II", chunk, hlen)
big = open("big16", "rb").read()
hl = struct.unpack(">I", big[15:19])[0]
open("chunk16m_plus_1", "wb").write(big[:hl] + b"B")
open("keys_255", "wb").write((prefix(65536, 200) + b"\0" * 32 + b"\0\0\xff").ljust(200, b"\0"))
open("header_4gib", "wb").write(prefix(65536, 0xFFFFFFFF) + b"\xff" * 64)
open("magic_only", "wb").write(b"ENVSTRM\0")
open("pairs_65535", "wb").write((prefix(65536, 60000) + b"\0" * 32 + b"\xff\xff").ljust(60000, b"\x41"))
PY
printf '| file | command | exit | peak RSS (KiB) |\n| --- | --- | --- | --- |\n'
fail=0
for f in chunk16m_plus_1 keys_255 header_4gib magic_only pairs_65535; do
    for c in open inspect; do
        if [ "$c" = open ]; then args=(open --key-file k.key -o out "$f"); else args=(inspect "$f"); fi
        set +e
        /usr/bin/time -v -o t "$bin" "${args[@]}" >/dev/null 2>err
        rc=$?
        set -e
        rss=$(awk -F': ' '/Maximum resident/ {print $2}' t)
        printf '| %s | %s | %s | %s |\n' "$f" "$c" "$rc" "$rss"
        # open must reject (3); inspect reads only the header, which may be valid (0).
        want_ok=no
        if [ "$c" = open ] && [ "$rc" -eq 3 ]; then want_ok=yes; fi
        if [ "$c" = inspect ] && { [ "$rc" -eq 3 ] || [ "$rc" -eq 0 ]; }; then want_ok=yes; fi
        if [ "$want_ok" = no ] || [ "$rss" -gt "$limit" ] || [ -e out ]; then
            echo "FAIL: $f $c: exit $rc, RSS $rss KiB (limit $limit), output left: $([ -e out ] && echo yes || echo no)" >&2
            fail=1
        fi
    done
done
exit $fail
