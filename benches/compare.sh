#!/usr/bin/env bash
# Whole-process comparison: envstream against cat, age and openssl, run in
# turn, side by side, in one sitting. Prints median throughput ratios with
# their spread, peak RSS, and startup time.
#
#   benches/compare.sh            # 2 GiB file, 5 rounds
#   SIZE=512M ROUNDS=3 benches/compare.sh
#   THREADS="1 2" benches/compare.sh   # also the --threads scaling table
#   BASELINE=/path/to/old/envstream benches/compare.sh
#                                 # also this build against another one, run
#                                 # in turn in every round (a refactor's cost)
#   FIPS=1 benches/compare.sh     # also the FIPS build (README, "FIPS build";
#                                 # needs Go and CMake) against the normal
#                                 # build's aws-lc backend and auto, in turn
#
# Installs what it needs from Debian (age, time, openssl) and builds release.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${SIZE:-2G}"
ROUNDS="${ROUNDS:-5}"
RSS_SIZES="${RSS_SIZES:-256M 8G}"
THREADS="${THREADS:-}"
BASELINE="${BASELINE:-}"
FIPS="${FIPS:-}"

need=()
command -v age >/dev/null || need+=(age)
[ -x /usr/bin/time ] || need+=(time)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked -q -p envstream-cli
ES="$PWD/target/release/envstream"
EF=""
if [ -n "$FIPS" ]; then
    # Its own target directory: the features differ, and $ES must stay.
    cargo build --release --locked -q -p envstream-cli --no-default-features --features fips \
        --target-dir target/fips
    EF="$PWD/target/fips/release/envstream"
    "$EF" --version | grep -q "FIPS mode on" || { echo "the FIPS build is not in FIPS mode" >&2; exit 1; }
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

"$ES" keygen -o k.key 2>/dev/null
"$ES" keygen --sign -o s.key >/dev/null 2>&1

# The machine: every figure below belongs to this CPU class.
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 "^flags" /proc/cpuinfo | tr ' ' '\n' | grep -xE "aes|vaes|vpclmulqdq|avx2|avx512f|avx512bw|avx512vl" | sort | tr '\n' ' ')
[ -n "$cpu" ] || cpu=$(uname -m)
auto=$(head -c 1 /dev/zero | "$ES" seal --key-file k.key --report - 2>&1 >/dev/null \
    | sed -n 's/.*"backend":"\([a-z-]*\)".*/\1/p')
echo "## Machine"
echo
echo "- CPU: $cpu, $(nproc) CPUs"
echo "- flags: ${flags:-none of aes vaes vpclmulqdq avx2 avx512f}"
echo "- \`--backend auto\` chose: ${auto:-unknown}"
age-keygen -o age.key 2>/dev/null
R=$(age-keygen -y age.key)
echo "# generating $SIZE of input (AES-CTR keystream: incompressible)" >&2
{ openssl enc -aes-256-ctr -pass pass:envstream-bench -nosalt -pbkdf2 < /dev/zero 2>/dev/null || true; } | head -c "$SIZE" > f
BYTES=$(stat -c %s f)
"$ES" seal --key-file k.key -o f.envs f
"$ES" seal --key-file k.key --sign-key s.key -o f.signed.envs f
age -r "$R" -o f.age f
cat f f.envs f.signed.envs f.age > /dev/null   # warm the page cache

now() { date +%s.%N; }
declare -A T
run() { # name, command...
    local name=$1; shift
    local t0 t1
    t0=$(now); "$@"; t1=$(now)
    T[$name]+="$(echo "$t1 - $t0" | bc -l) "
}
cat_stage()   { cat f | cat | cat > /dev/null; }
seal_stage()  { cat f | "$ES" seal --key-file k.key | cat > /dev/null; }
open_stage()  { cat f.envs | "$ES" open --key-file k.key | cat > /dev/null; }
age_stage()   { cat f | age -r "$R" | cat > /dev/null; }
# Signed streams (Ed25519 key file; the signer pinned when opening).
sseal_stage() { cat f | "$ES" seal --key-file k.key --sign-key s.key | cat > /dev/null; }
sopen_stage() { cat f.signed.envs | "$ES" open --key-file k.key --signer s.key.pub | cat > /dev/null; }
es_sseal_file(){ "$ES" seal --key-file k.key --sign-key s.key -o /dev/null f; }
es_sopen_file(){ "$ES" open --key-file k.key --signer s.key.pub -o /dev/null f.signed.envs; }
es_seal_file(){ "$ES" seal --key-file k.key -o /dev/null f; }
es_open_file(){ "$ES" open --key-file k.key -o /dev/null f.envs; }
age_enc_file(){ age -r "$R" -o /dev/null f; }
age_dec_file(){ age -d -i age.key -o /dev/null f.age; }
openssl_file(){ openssl enc -aes-256-ctr -pass pass:x -nosalt -pbkdf2 -in f -out /dev/null; }
fips_seal_file()  { "$EF" seal --key-file k.key -o /dev/null f; }
fips_open_file()  { "$EF" open --key-file k.key -o /dev/null f.envs; }
fips_seal_stage() { cat f | "$EF" seal --key-file k.key | cat > /dev/null; }
fips_seal_1t()    { "$EF" seal --threads 1 --key-file k.key -o /dev/null f; }
awslc_seal_file() { "$ES" seal --backend aws-lc --key-file k.key -o /dev/null f; }
awslc_open_file() { "$ES" open --backend aws-lc --key-file k.key -o /dev/null f.envs; }
base_seal_stage() { cat f | "$BASELINE" seal --key-file k.key | cat > /dev/null; }
base_open_stage() { cat f.envs | "$BASELINE" open --key-file k.key | cat > /dev/null; }
base_seal_file()  { "$BASELINE" seal --key-file k.key -o /dev/null f; }
base_open_file()  { "$BASELINE" open --key-file k.key -o /dev/null f.envs; }

for r in $(seq 1 "$ROUNDS"); do
    echo "# round $r/$ROUNDS" >&2
    run cat cat_stage; run seal seal_stage; run open open_stage; run age_pipe age_stage
    run es_seal es_seal_file; run age_enc age_enc_file
    run es_open es_open_file; run age_dec age_dec_file; run openssl openssl_file
    run sseal sseal_stage; run sopen sopen_stage
    run es_sseal es_sseal_file; run es_sopen es_sopen_file
    if [ -n "$BASELINE" ]; then
        run b_seal base_seal_stage; run b_open base_open_stage
        run b_es_seal base_seal_file; run b_es_open base_open_file
    fi
    if [ -n "$FIPS" ]; then
        run f_seal fips_seal_file; run a_seal awslc_seal_file
        run f_open fips_open_file; run a_open awslc_open_file
        run f_seal_pipe fips_seal_stage; run f_seal_1t fips_seal_1t
    fi
done

# median and min..max of a list of numbers
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s", m, a[1], a[NR]}'; }
gbps() { echo "scale=2; $BYTES / $1 / 1000000000" | bc -l; }
# ratio of throughputs A/B for each round (B time / A time), then median + spread
ratio() { # slower-is-denominator: throughput(a)/throughput(b) = time(b)/time(a)
    paste -d' ' <(echo "${T[$2]}" | tr ' ' '\n' | grep -v '^$') <(echo "${T[$1]}" | tr ' ' '\n' | grep -v '^$') \
        | awk '{printf "%.3f ", $1/$2}' | stats
}

echo
echo "## Throughput ($SIZE file in page cache, $ROUNDS rounds, $(nproc) CPUs)"
echo
echo "| operation | median GB/s | min..max time (s) |"
echo "| --- | --- | --- |"
keys="cat seal open age_pipe es_seal es_open age_enc age_dec openssl sseal sopen es_sseal es_sopen"
[ -n "$FIPS" ] && keys="$keys a_seal a_open f_seal f_open f_seal_pipe f_seal_1t"
for k in $keys; do
    read -r med lo hi <<< "$(echo "${T[$k]}" | stats)"
    printf '| %s | %s | %.2f..%.2f |\n' "$k" "$(gbps "$med")" "$lo" "$hi"
done
echo
echo "## Ratios (median, min..max over rounds; each round's runs taken in turn)"
echo
echo "| target | ratio | spread | goal |"
echo "| --- | --- | --- | --- |"
read -r m lo hi <<< "$(ratio seal cat)";    printf '| seal pipe stage / cat stage | %s | %s..%s | >= 0.95 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio open cat)";    printf '| open pipe stage / cat stage | %s | %s..%s | >= 0.95 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio age_pipe cat)"; printf '| age pipe stage / cat stage | %s | %s..%s | (reference) |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_seal age_enc)"; printf '| seal file->/dev/null vs age -r | %s | %s..%s | >= 4 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_open age_dec)"; printf '| open file->/dev/null vs age -d | %s | %s..%s | >= 4 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_seal openssl)"; printf '| seal file->/dev/null vs openssl aes-256-ctr | %s | %s..%s | (reference) |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio sseal cat)";    printf '| signed seal pipe stage / cat stage | %s | %s..%s | >= 0.95 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio sopen cat)";    printf '| signed open pipe stage (signer pinned) / cat stage | %s | %s..%s | >= 0.95 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_sseal age_enc)"; printf '| signed seal file->/dev/null vs age -r | %s | %s..%s | >= 2.5 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_sopen age_dec)"; printf '| signed open file->/dev/null vs age -d | %s | %s..%s | >= 2.5 |\n' "$m" "$lo" "$hi"
read -r m lo hi <<< "$(ratio es_sseal es_seal)"; printf '| signed / unsigned seal file->/dev/null | %s | %s..%s | (cost of signing) |\n' "$m" "$lo" "$hi"
if [ -n "$BASELINE" ]; then
    read -r m lo hi <<< "$(ratio seal b_seal)";       printf '| seal pipe stage: this build / baseline | %s | %s..%s | ~1 |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio open b_open)";       printf '| open pipe stage: this build / baseline | %s | %s..%s | ~1 |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio es_seal b_es_seal)"; printf '| seal file->/dev/null: this build / baseline | %s | %s..%s | ~1 |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio es_open b_es_open)"; printf '| open file->/dev/null: this build / baseline | %s | %s..%s | ~1 |\n' "$m" "$lo" "$hi"
fi
if [ -n "$FIPS" ]; then
    read -r m lo hi <<< "$(ratio f_seal a_seal)";   printf '| FIPS build / --backend aws-lc: seal file->/dev/null | %s | %s..%s | (cost of the module) |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio f_open a_open)";   printf '| FIPS build / --backend aws-lc: open file->/dev/null | %s | %s..%s | (cost of the module) |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio f_seal es_seal)";  printf '| FIPS build / auto: seal file->/dev/null | %s | %s..%s | (reference) |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio f_open es_open)";  printf '| FIPS build / auto: open file->/dev/null | %s | %s..%s | (reference) |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio f_seal_pipe cat)"; printf '| FIPS build seal pipe stage / cat stage | %s | %s..%s | (reference) |\n' "$m" "$lo" "$hi"
    read -r m lo hi <<< "$(ratio f_seal_1t f_seal)"; printf '| FIPS build seal, --threads 1 / default | %s | %s..%s | (one sealing context) |\n' "$m" "$lo" "$hi"
fi

echo
echo "## Startup: sealing a 1 KiB file (200 runs each, in turn)"
head -c 1024 f > small
t_es=0; t_age=0
for i in $(seq 1 200); do
    t0=$(now); "$ES" seal --key-file k.key -o /dev/null small; t1=$(now)
    age -r "$R" -o /dev/null small; t2=$(now)
    t_es=$(echo "$t_es + $t1 - $t0" | bc -l); t_age=$(echo "$t_age + $t2 - $t1" | bc -l)
done
printf '| envstream seal 1 KiB | %.2f ms |\n| age -r 1 KiB | %.2f ms |\n| envstream / age | %.2f (goal <= 1) |\n' \
    "$(echo "$t_es * 5" | bc -l)" "$(echo "$t_age * 5" | bc -l)" "$(echo "$t_es / $t_age" | bc -l)"
if [ -n "$FIPS" ]; then
    t_f=0; t_n=0
    for i in $(seq 1 200); do
        t0=$(now); "$EF" seal --key-file k.key -o /dev/null small; t1=$(now)
        "$ES" seal --backend aws-lc --key-file k.key -o /dev/null small; t2=$(now)
        t_f=$(echo "$t_f + $t1 - $t0" | bc -l); t_n=$(echo "$t_n + $t2 - $t1" | bc -l)
    done
    printf '| FIPS build seal 1 KiB | %.2f ms |\n| normal build (aws-lc) seal 1 KiB | %.2f ms |\n' \
        "$(echo "$t_f * 5" | bc -l)" "$(echo "$t_n * 5" | bc -l)"
fi

echo
echo "## Peak RSS through pipes (default chunk size)"
echo
echo "| stream | seal KiB | open KiB |"
echo "| --- | --- | --- |"
for s in $RSS_SIZES; do
    head -c "$s" /dev/zero | /usr/bin/time -v -o seal.t "$ES" seal --key-file k.key \
        | /usr/bin/time -v -o open.t "$ES" open --key-file k.key > /dev/null
    printf '| %s | %s | %s |\n' "$s" "$(awk -F': ' '/Maximum resident/ {print $2}' seal.t)" "$(awk -F': ' '/Maximum resident/ {print $2}' open.t)"
done

if [ -n "$THREADS" ]; then
    echo
    echo "## Scaling: seal and open file -> /dev/null by --threads and --backend (median of $ROUNDS)"
    echo
    echo "| threads | backend | seal GB/s | open GB/s |"
    echo "| --- | --- | --- | --- |"
    for n in $THREADS; do
        for b in aws-lc ring rustcrypto; do
            unset 'T[s]' 'T[o]'
            for r in $(seq 1 "$ROUNDS"); do
                run s "$ES" seal --backend "$b" --threads "$n" --key-file k.key -o /dev/null f
                run o "$ES" open --backend "$b" --threads "$n" --key-file k.key -o /dev/null f.envs
            done
            read -r ms _ _ <<< "$(echo "${T[s]}" | stats)"
            read -r mo _ _ <<< "$(echo "${T[o]}" | stats)"
            printf '| %s | %s | %s | %s |\n' "$n" "$b" "$(gbps "$ms")" "$(gbps "$mo")"
        done
    done
fi
