#!/usr/bin/env bash
# envstream on a real distributed S3 store: a 3-node Garage 2.5.0 cluster
# on loopback, replication factor 3, one process per node. Prints a table
# of checks, each PASS or FAIL, and exits non-zero if any failed:
#
#   1. seal through node 1, open and verify through node 2: sealed sizes
#      at and around the first part boundary, and one object of BIG bytes;
#   2. --range restores through each node, and the multi-machine slicing
#      recipe of docs/S3.md run through the three nodes in parallel;
#   3. rekey by server-side copy;
#   4. overwrite refusal without --force (Garage has no conditional writes:
#      the HeadObject check alone refuses);
#   5. a node killed mid-upload: the node the client talks to, and another;
#   6. a node killed mid-restore: another node, and the client's own;
#   7. throughput of seal -o s3:// and open s3:// against `aws s3 cp`
#      through a pipe, with client CPU seconds per GiB.
#
#   benches/garage.sh              # BIG=2G, MID=1G
#   BIG=512M MID=256M benches/garage.sh     # quicker
#
# Garage is AGPL-3.0: it is only run, never linked. The first run builds it
# (`cargo install garage@2.5.0 … --root target/garage`, about 20 minutes on
# 2 cores); later runs reuse it. Also installs the AWS CLI into .venv and
# GNU time from Debian if missing, and builds envstream (release).
# Everything (nodes, data, temporary files) is removed on exit, however the
# script exits. Not run in CI (the build time); scripts/test.sh keeps moto.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIG="${BIG:-2G}"
# The size of the objects of the node-loss uploads and the throughput runs
# (each object takes three times its size on disk, replicated).
MID="${MID:-1G}"

GARAGE="$ROOT/target/garage/bin/garage"
if [ ! -x "$GARAGE" ]; then
    echo "# building Garage 2.5.0 into target/garage (about 20 minutes)" >&2
    cargo install garage@2.5.0 --locked --no-default-features --features bundled-libs,sqlite \
        --root "$ROOT/target/garage"
fi
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
[ -x "$VENV/bin/aws" ] || "$VENV/bin/pip" install --quiet --disable-pip-version-check 'awscli==1.46.0'
cargo build --release --locked -q -p envstream-cli
ES="$ROOT/target/release/envstream"

work="$(mktemp -d)"
declare -a PID=("" "" "" "")
cleanup() {
    for i in 1 2 3; do
        if [ -n "${PID[$i]}" ]; then
            kill -9 "${PID[$i]}" 2>/dev/null || true
            wait "${PID[$i]}" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
SECRET=$(openssl rand -hex 32)
echo probe > "$work/probe"
declare -a RPC S3P
for i in 1 2 3; do
    RPC[$i]=$(free_port)
    S3P[$i]=$(free_port)
    adm=$(free_port)
    mkdir -p "$work/n$i"
    cat > "$work/n$i.toml" <<EOF
metadata_dir = "$work/n$i/meta"
data_dir = "$work/n$i/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:${RPC[$i]}"
rpc_public_addr = "127.0.0.1:${RPC[$i]}"
rpc_secret = "$SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:${S3P[$i]}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$adm"
admin_token = "$(openssl rand -hex 16)"
EOF
done
g() { local i=$1; shift; "$GARAGE" -c "$work/n$i.toml" "$@"; }
start_node() {
    local i=$1
    RUST_LOG=warn "$GARAGE" -c "$work/n$i.toml" server >> "$work/n$i.log" 2>&1 &
    PID[$i]=$!
    for _ in $(seq 1 100); do
        g "$i" status >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "garage node $i did not start; its log:" >&2
    tail -n 30 "$work/n$i.log" >&2
    exit 1
}
kill_node() { kill -9 "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; PID[$1]=""; }
# A restarted node: connect it and the others to each other again, and wait
# (at most 60 s) until a small write through every node reaches a quorum.
rejoin() {
    local i=$1 j k ok
    for _ in $(seq 1 60); do
        for j in 1 2 3; do
            [ "$j" = "$i" ] && continue
            g "$i" node connect "$(g "$j" node id -q 2>/dev/null)" >/dev/null 2>&1 || true
            g "$j" node connect "$(g "$i" node id -q 2>/dev/null)" >/dev/null 2>&1 || true
        done
        ok=1
        for k in 1 2 3; do
            aws_at "$k" s3api put-object --bucket bench --key ".probe-$k" --body "$work/probe" >/dev/null 2>&1 || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 1
    done
    echo "# warning: after restarting node $i, a write through some node still found no quorum" >&2
}
for i in 1 2 3; do start_node "$i"; done
for i in 2 3; do g 1 node connect "$(g "$i" node id -q 2>/dev/null)" >/dev/null; done
for i in 1 2 3; do
    g 1 layout assign -z dc1 -c 10GB "$(g "$i" node id -q 2>/dev/null | cut -c1-16)" >/dev/null
done
g 1 layout apply --version 1 >/dev/null
g 1 bucket create bench >/dev/null
keyinfo=$(g 1 key create bench-key 2>/dev/null)
export AWS_ACCESS_KEY_ID=$(echo "$keyinfo" | awk -F': *' '/Key ID/ {print $2; exit}')
export AWS_SECRET_ACCESS_KEY=$(echo "$keyinfo" | awk -F': *' '/Secret key/ {print $2; exit}')
g 1 bucket allow --read --write --owner bench --key bench-key >/dev/null
export AWS_REGION=garage AWS_DEFAULT_REGION=garage AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS AWS_PROFILE
ep() { echo "http://127.0.0.1:${S3P[$1]}"; }
# envstream (or anything) through node N: es N ARGS...
es() { local n=$1; shift; AWS_ENDPOINT_URL_S3=$(ep "$n") "$ES" "$@"; }
aws_at() { local n=$1; shift; "$VENV/bin/aws" --endpoint-url "$(ep "$n")" "$@"; }
for _ in $(seq 1 100); do
    aws_at 1 s3api head-bucket --bucket bench >/dev/null 2>&1 && break
    sleep 0.2
done
# Incomplete multipart uploads of one key, as node N lists them.
uploads_of() { aws_at "$1" s3api list-multipart-uploads --bucket bench --query "length(Uploads[?Key=='$2'] || \`[]\`)" --output text 2>/dev/null || echo "?"; }
exists() { aws_at "$1" s3api head-object --bucket bench --key "$2" >/dev/null 2>&1; }

cd "$work"
"$ES" keygen -o k.key 2>/dev/null
"$ES" keygen -o k2.key 2>/dev/null
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "## Machine and cluster"
echo
echo "- CPU: ${cpu:-$(uname -m)}, $(nproc) CPUs; $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "- store: $("$GARAGE" --version 2>/dev/null | head -n 1), 3 nodes on 127.0.0.1 (one machine), replication factor 3, sqlite metadata"
echo "- client: envstream $("$ES" --version | cut -d' ' -f2-), AWS CLI $("$VENV/bin/aws" --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2)"
echo

ROWS=()
FAILED=0
row() { # number, check, result, PASS|FAIL
    ROWS+=("| $1 | $2 | $3 | $4 |")
    [ "$4" = PASS ] || FAILED=1
    echo "# $1 $4: $2: $3" >&2
}

# --- 1. round trips at part boundaries and one big object ------------------
# The sealed size of P plaintext bytes: H + P + 16 per chunk (64 KiB chunks,
# the final one shorter than a full chunk).
: > empty
es 1 seal --key-file k.key -o s3://bench/empty.envs empty
H=$(( $(aws_at 1 s3api head-object --bucket bench --key empty.envs --query ContentLength --output text) - 16 ))
plain_for() { # sealed size -> plaintext size, or nothing if none gives it
    "$VENV/bin/python" - "$1" "$H" <<'EOF'
import sys
t, h, c = int(sys.argv[1]), int(sys.argv[2]), 65536
for p in range(max(0, (t - h) * c // (c + 16) - 64), t):
    s = h + p + 16 * (p // c + 1)
    if s == t:
        print(p); break
    if s > t:
        break
EOF
}
ok1=0; n1=0; detail1=""
part=$((8 << 20))
for target in $((part - 1)) $part $((part + 1)) $((2 * part + 1)); do
    p=$(plain_for "$target")
    [ -n "$p" ] || continue
    head -c "$p" /dev/urandom > "p.$target"
    n1=$((n1 + 1))
    if es 1 seal --key-file k.key -o "s3://bench/b.$target.envs" "p.$target" \
        && es 2 open --key-file k.key "s3://bench/b.$target.envs" | cmp -s - "p.$target" \
        && es 2 verify --key-file k.key "s3://bench/b.$target.envs" >/dev/null \
        && [ "$(aws_at 2 s3api head-object --bucket bench --key "b.$target.envs" --query ContentLength --output text)" = "$target" ]; then
        ok1=$((ok1 + 1))
    fi
    detail1+="$target "
done
echo "# generating $BIG and $MID of input" >&2
head -c "$BIG" /dev/urandom > big
head -c "$MID" /dev/urandom > mid
BIGB=$(stat -c %s big)
MIDB=$(stat -c %s mid)
drop() { aws_at 1 s3 rm --only-show-errors "s3://bench/$1" >/dev/null 2>&1 || true; }
es 1 seal --key-file k.key -o s3://bench/big.envs big
bigok=0
es 2 open --key-file k.key s3://bench/big.envs | cmp -s - big && es 2 verify --key-file k.key s3://bench/big.envs >/dev/null && bigok=1
if [ "$ok1" = "$n1" ] && [ "$bigok" = 1 ]; then
    row 1 "seal via node 1, open + verify via node 2" "sealed sizes ${detail1}bytes (8 MiB part boundary -1/0/+1, two parts +1) and $BIG: all identical" PASS
else
    row 1 "seal via node 1, open + verify via node 2" "$ok1/$n1 boundary sizes, big object ok=$bigok" FAIL
fi

# --- 2. ranges through each node, and the slicing recipe -------------------
ranges=0
for n in 1 2 3; do
    s=$(( n * 300000007 % (BIGB - 2000000) ))
    if es "$n" open --key-file k.key --range "$s..$((s + 1000000))" s3://bench/big.envs > "r.$n" 2> "r.$n.err" \
        && [ "$(stat -c %s "r.$n")" = 1000000 ] && cmp -s -n 1000000 -i "0:$s" "r.$n" big; then
        ranges=$((ranges + 1))
    fi
done
N=$(es 1 inspect --json s3://bench/big.envs | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["plaintext_size"])')
M=3; CHUNK=65536
SLICE=$(( (N / M / CHUNK + 1) * CHUNK ))
pids=()
for i in 0 1 2; do
    es $((i + 1)) open --key-file k.key --range $((i * SLICE))..$(((i + 1) * SLICE)) s3://bench/big.envs > "part.$i" 2> "part.$i.err" &
    pids+=($!)
done
slices=0
for p in "${pids[@]}"; do wait "$p" && slices=$((slices + 1)); done
joined=0
cat part.0 part.1 part.2 | cmp -s - big && joined=1
if [ "$ranges" = 3 ] && [ "$slices" = 3 ] && [ "$joined" = 1 ]; then
    row 2 "--range via each node; docs/S3.md slicing recipe via 3 nodes in parallel" "3 ranges of 1 MB and 3 slices of $SLICE bytes: identical" PASS
else
    row 2 "--range via each node; docs/S3.md slicing recipe via 3 nodes in parallel" "ranges $ranges/3, slices $slices/3, joined=$joined: $(cat r.*.err part.*.err | tail -n 1)" FAIL
fi

# --- 3. rekey by server-side copy -----------------------------------------
if es 1 rekey --key-file k.key --add-key-file k2.key -o s3://bench/big2.envs s3://bench/big.envs 2> rekey.err \
    && grep -q "copied inside S3" rekey.err \
    && es 3 open --key-file k2.key s3://bench/big2.envs | cmp -s - big; then
    row 3 "rekey by server-side copy (UploadPartCopy)" "$(grep -o '[0-9]* copied inside S3' rekey.err) bytes; opens with the added key via node 3" PASS
else
    row 3 "rekey by server-side copy (UploadPartCopy)" "$(tail -n 1 rekey.err)" FAIL
fi
drop big2.envs

# --- 4. overwrite refusal ------------------------------------------------
set +e
es 1 seal --key-file k.key -o s3://bench/big.envs empty 2> ow.err; rc4=$?
set -e
if [ "$rc4" = 2 ] && es 2 open --key-file k.key s3://bench/big.envs | cmp -s - big \
    && es 1 seal --key-file k.key --force -o s3://bench/ow.envs empty \
    && es 1 seal --key-file k.key --force -o s3://bench/ow.envs empty; then
    row 4 "overwrite refused without --force" "exit 2, object unchanged (HeadObject check; Garage ignores If-None-Match); --force replaces" PASS
else
    row 4 "overwrite refused without --force" "exit $rc4: $(tail -n 1 ow.err)" FAIL
fi

# --- 5. a node killed mid-upload ---------------------------------------------
# Sets RC (not a subshell: the restarted node's PID must stay known).
kill_mid_upload() { # client node, node to kill, object
    local client=$1 victim=$2 key=$3 pid
    set +e
    es "$client" seal --key-file k.key --report "up.$key.json" -o "s3://bench/$key" mid 2> "up.$key.err" &
    pid=$!
    sleep 1.5
    kill_node "$victim"
    wait "$pid"; RC=$?
    set -e
    start_node "$victim"
    rejoin "$victim"
}
leftover_named() { # report: whether it names an upload left behind
    "$VENV/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("the report names it" if (r.get("s3") or {}).get("leftover_upload") else "the report names none")' "$1" 2>/dev/null || echo "no report"
}
kill_mid_upload 1 1 killed-client.envs; rc=$RC
left=$(uploads_of 2 killed-client.envs)
if [ "$rc" = 0 ] && es 2 open --key-file k.key s3://bench/killed-client.envs | cmp -s - mid; then
    row 5a "client's node killed mid-upload" "completed and opens; incomplete multipart uploads of that key listed afterwards: $left" PASS
elif [ "$rc" = 5 ] && ! exists 2 killed-client.envs; then
    row 5a "client's node killed mid-upload" "exit 5, no object; incomplete multipart uploads of that key listed afterwards: $left ($(leftover_named up.killed-client.envs.json))" PASS
else
    row 5a "client's node killed mid-upload" "exit $rc: $(tail -n 1 up.killed-client.envs.err)" FAIL
fi
kill_mid_upload 1 3 killed-other.envs; rc=$RC
left=$(uploads_of 2 killed-other.envs)
if [ "$rc" = 0 ] && es 2 open --key-file k.key s3://bench/killed-other.envs | cmp -s - mid; then
    row 5b "another node killed mid-upload" "completed and opens (quorum 2 of 3); incomplete multipart uploads of that key listed afterwards: $left" PASS
elif [ "$rc" = 5 ] && ! exists 2 killed-other.envs; then
    row 5b "another node killed mid-upload" "exit 5, no object; incomplete multipart uploads of that key listed afterwards: $left" PASS
else
    row 5b "another node killed mid-upload" "exit $rc: $(tail -n 1 up.killed-other.envs.err)" FAIL
fi

drop killed-client.envs
drop killed-other.envs

# --- 6. a node killed mid-restore ------------------------------------------
kill_mid_restore() { # client node, node to kill, output; sets RC
    local client=$1 victim=$2 out=$3 pid
    set +e
    es "$client" open --key-file k.key -o "$out" s3://bench/big.envs 2> "$out.err" &
    pid=$!
    sleep 1.5
    kill_node "$victim"
    wait "$pid"; RC=$?
    set -e
    start_node "$victim"
    rejoin "$victim"
}
kill_mid_restore 2 3 restored-other; rc=$RC
if [ "$rc" = 0 ] && cmp -s restored-other big; then
    row 6a "another node killed mid-restore" "completed through the client's node, identical" PASS
elif [ "$rc" != 0 ] && [ ! -e restored-other ]; then
    row 6a "another node killed mid-restore" "failed cleanly (exit $rc), no output file" PASS
else
    row 6a "another node killed mid-restore" "exit $rc: $(tail -n 1 restored-other.err)" FAIL
fi
rm -f restored-other
kill_mid_restore 2 2 restored-client; rc=$RC
if [ "$rc" = 0 ] && cmp -s restored-client big; then
    row 6b "client's node killed mid-restore" "completed, identical" PASS
elif [ "$rc" = 5 ] && [ ! -e restored-client ] && ! ls .restored-client.envstream-partial.* >/dev/null 2>&1; then
    row 6b "client's node killed mid-restore" "failed cleanly: exit 5 ($(tail -n 1 restored-client.err | sed 's/ (.*//; s/^envstream: error: //')), no output or partial file" PASS
else
    row 6b "client's node killed mid-restore" "exit $rc: $(tail -n 1 restored-client.err)" FAIL
fi
rm -f restored-client

# --- 7. throughput against aws s3 cp -------------------------------------------
export ES
timed_cpu() { # name, command: wall seconds and client CPU seconds (user+sys of every process)
    local name=$1 t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "cpu.$name" bash -c "$2"
    t1=$(date +%s.%N)
    WALL[$name]=$(echo "$t1 - $t0" | bc -l)
    CPU[$name]=$(awk '{print $1 + $2}' "cpu.$name")
}
declare -A WALL CPU
export E1; E1=$(ep 1)
timed_cpu es_up "AWS_ENDPOINT_URL_S3=\$E1 \"\$ES\" seal --key-file k.key --force -o s3://bench/t.envs mid"
timed_cpu cli_up "set -o pipefail; \"\$ES\" seal --key-file k.key mid | $VENV/bin/aws --endpoint-url \$E1 s3 cp --only-show-errors - s3://bench/t-cli.envs"
timed_cpu es_down "AWS_ENDPOINT_URL_S3=\$E1 \"\$ES\" open --key-file k.key s3://bench/t.envs > /dev/null"
timed_cpu cli_down "set -o pipefail; $VENV/bin/aws --endpoint-url \$E1 s3 cp --only-show-errors s3://bench/t-cli.envs - | \"\$ES\" open --key-file k.key > /dev/null"
GIB=$(echo "$MIDB / 1073741824" | bc -l)
mbps() { echo "scale=0; $MIDB / ${WALL[$1]} / 1000000" | bc -l; }
cpg() { printf '%.2f' "$(echo "${CPU[$1]} / $GIB" | bc -l)"; }
row 7 "throughput via node 1 ($MID, one run each, in turn)" "\`seal -o s3://\` $(mbps es_up) MB/s, $(cpg es_up) client CPU s/GiB; \`seal\` piped to \`aws s3 cp -\` $(mbps cli_up) MB/s, $(cpg cli_up); \`open s3://\` $(mbps es_down) MB/s, $(cpg es_down); \`aws s3 cp -\` piped to \`open\` $(mbps cli_down) MB/s, $(cpg cli_down)" PASS

echo "## Checks"
echo
echo "| # | check | result | status |"
echo "| --- | --- | --- | --- |"
for r in "${ROWS[@]}"; do echo "$r"; done
exit "$FAILED"
