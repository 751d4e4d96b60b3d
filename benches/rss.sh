#!/usr/bin/env bash
# Peak RSS of `seal` and `open` streaming through pipes, for a small and a
# large stream. Memory must not grow with the stream length.
#   benches/rss.sh [SIZES...]      sizes for head -c (default: 64M 4G)
# Needs /usr/bin/time (Debian package `time`; installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(64M 4G)
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
cargo build --release --locked -q -p envstream-cli
bin="$PWD/target/release/envstream"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" keygen -o "$work/k.key" 2>/dev/null

rss() { awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$1"; }
secs() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }

printf '| stream | seal peak RSS (KiB) | open peak RSS (KiB) | wall (s) | bytes out = in |\n'
printf '| --- | --- | --- | --- | --- |\n'
for size in "${sizes[@]}"; do
    out=$(head -c "$size" /dev/zero \
        | /usr/bin/time -v -o "$work/seal.t" "$bin" seal --key-file "$work/k.key" \
        | /usr/bin/time -v -o "$work/open.t" "$bin" open --key-file "$work/k.key" \
        | wc -c)
    want=$(head -c "$size" /dev/zero | wc -c)
    ok=no; [ "$out" = "$want" ] && ok=yes
    printf '| %s | %s | %s | %s | %s |\n' "$size" "$(rss "$work/seal.t")" "$(rss "$work/open.t")" "$(secs "$work/open.t")" "$ok"
    [ "$ok" = yes ] || { echo "length mismatch: $out != $want" >&2; exit 1; }
done
