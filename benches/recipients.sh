#!/usr/bin/env bash
# Whole-process cost of a public-key recipient (FORMAT.md section 16)
# against a local key file, run in turn, side by side, in one sitting:
# keygen, seal and open of a 1 KiB file (per-stream cost: process start,
# key loading, one wrap or unwrap), and seal and open of a large file
# (throughput: must not change). Prints medians and the ratio.
#
#   benches/recipients.sh                 # 1 GiB, 5 rounds, 30 small runs
#   SIZE=256M ROUNDS=3 SMALL=10 benches/recipients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${SIZE:-1G}"
ROUNDS="${ROUNDS:-5}"
SMALL="${SMALL:-30}"

cargo build --release --locked -q -p envstream-cli
ES="$PWD/target/release/envstream"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 "^flags" /proc/cpuinfo | tr ' ' '\n' | grep -xE "aes|vaes|vpclmulqdq|avx2|avx512f|avx512bw|avx512vl" | sort | tr '\n' ' ')
echo "machine: $cpu, $(nproc) CPUs, flags: $flags"

"$ES" keygen -o k.key 2>/dev/null
"$ES" keygen --recipient -o r.id >/dev/null 2>&1
head -c 1024 /dev/urandom > small
head -c "$SIZE" /dev/urandom > big
bytes=$(stat -c %s big)

now() { date +%s%N; }
# Median of the arguments (integers).
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Runs "$@" once and prints the elapsed nanoseconds.
elapsed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; echo $(( $(now) - t0 )); }

"$ES" seal --key-file k.key -o small.k.envs small
"$ES" seal --recipient r.id.pub -o small.r.envs small
"$ES" seal --key-file k.key -o big.k.envs big
"$ES" seal --recipient r.id.pub -o big.r.envs big

declare -A t
add() { t[$1]="${t[$1]:-} $2"; }
for ((i = 0; i < SMALL; i++)); do
    rm -f g.key g.id g.id.pub
    add keygen_local "$(elapsed "$ES" keygen -o g.key)"
    add keygen_recipient "$(elapsed "$ES" keygen --recipient -o g.id)"
    add seal1k_local "$(elapsed "$ES" seal --key-file k.key -o /dev/null small)"
    add seal1k_recipient "$(elapsed "$ES" seal --recipient r.id.pub -o /dev/null small)"
    add open1k_local "$(elapsed "$ES" open --key-file k.key -o /dev/null small.k.envs)"
    add open1k_recipient "$(elapsed "$ES" open --identity r.id -o /dev/null small.r.envs)"
done
for ((i = 0; i < ROUNDS; i++)); do
    add sealbig_local "$(elapsed "$ES" seal --key-file k.key -o /dev/null big)"
    add sealbig_recipient "$(elapsed "$ES" seal --recipient r.id.pub -o /dev/null big)"
    add openbig_local "$(elapsed "$ES" open --key-file k.key -o /dev/null big.k.envs)"
    add openbig_recipient "$(elapsed "$ES" open --identity r.id -o /dev/null big.r.envs)"
done

# shellcheck disable=SC2086
ms() { median ${t[$1]} | awk '{printf "%.2f ms", $1 / 1e6}'; }
# shellcheck disable=SC2086
gbps() { median ${t[$1]} | awk -v b="$bytes" '{printf "%.2f GB/s", b / $1}'; }
# shellcheck disable=SC2086
ratio() { awk -v a="$(median ${t[$1]})" -v b="$(median ${t[$2]})" 'BEGIN {printf "%.2f", b / a}'; }
# shellcheck disable=SC2086
diff_us() { awk -v a="$(median ${t[$1]})" -v b="$(median ${t[$2]})" 'BEGIN {printf "%+.0f us", (b - a) / 1e3}'; }

echo
echo "whole process, medians of $SMALL runs (key file | recipient | recipient - key file)"
for op in keygen seal1k open1k; do
    printf '  %-7s %10s | %10s | %s\n' "$op" "$(ms ${op}_local)" "$(ms ${op}_recipient)" "$(diff_us ${op}_local ${op}_recipient)"
done
echo
echo "$SIZE file -> /dev/null, medians of $ROUNDS rounds in turn (key file | recipient | recipient/key file throughput)"
for op in sealbig openbig; do
    printf '  %-7s %10s | %10s | %sx\n' "$op" "$(gbps ${op}_local)" "$(gbps ${op}_recipient)" "$(ratio ${op}_recipient ${op}_local)"
done
