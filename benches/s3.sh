#!/usr/bin/env bash
# Whole-process S3 comparison against a local S3-compatible server, side by
# side in one sitting:
#
#   upload:   envstream seal -o s3://B/K FILE
#        vs   envstream seal FILE | aws s3 cp - s3://B/K
#   restore:  envstream open s3://B/K > /dev/null
#        vs   aws s3 cp s3://B/K - | envstream open > /dev/null
#
# Prints each median with its spread, the ratios, and the peak RSS of every
# process. The server is named with every figure:
#
#   SERVER=s3s-fs benches/s3.sh      # s3s-fs 0.14.1 (built into target/s3s-fs)
#   SERVER=moto   benches/s3.sh      # moto 5.2.5, the test server (slow GETs)
#   SIZE=4G ROUNDS=1 benches/s3.sh   # the memory measurement of the issue
#
# Installs what it needs: the AWS CLI from PyPI and moto into .venv,
# s3s-fs with cargo install, GNU time from Debian; builds release.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${SIZE:-1G}"
ROUNDS="${ROUNDS:-3}"
SERVER="${SERVER:-s3s-fs}"
ROOT="$PWD"

[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
pip_install() { "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@"; }
[ -x "$VENV/bin/aws" ] || pip_install 'awscli==1.46.0'
cargo build --release --locked -q -p envstream-cli
ES="$ROOT/target/release/envstream"

work="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    # Never fail here: under set -e a failed wait would skip the removal.
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$PORT"
case "$SERVER" in
    s3s-fs)
        S3S="$ROOT/target/s3s-fs/bin/s3s-fs"
        [ -x "$S3S" ] || cargo install -q s3s-fs@0.14.1 --features binary --locked --root "$ROOT/target/s3s-fs"
        export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
        mkdir -p "$work/s3root/bench"
        "$S3S" --host 127.0.0.1 --port "$PORT" --access-key bench --secret-key bench-secret "$work/s3root" \
            > "$work/server.log" 2>&1 &
        SERVER_PID=$!
        server_version="s3s-fs 0.14.1"
        ;;
    moto)
        "$VENV/bin/python" -c 'import moto, sys; sys.exit(moto.__version__ != "5.2.5")' 2>/dev/null \
            || pip_install 'moto[server]==5.2.5'
        export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
        "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$work/server.log" 2>&1 &
        SERVER_PID=$!
        server_version="moto 5.2.5"
        ;;
    *) echo "SERVER is s3s-fs or moto" >&2; exit 2 ;;
esac
AWS=("$VENV/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL_S3")
for _ in $(seq 1 100); do
    "${AWS[@]}" s3api list-buckets >/dev/null 2>&1 && break
    sleep 0.2
done
"${AWS[@]}" s3api head-bucket --bucket bench >/dev/null 2>&1 \
    || "${AWS[@]}" s3api create-bucket --bucket bench >/dev/null

cd "$work"
"$ES" keygen -o k.key 2>/dev/null
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "## Machine and server"
echo
echo "- CPU: ${cpu:-$(uname -m)}, $(nproc) CPUs; $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "- server: $server_version on 127.0.0.1 (the same machine)"
echo "- AWS CLI: $("${AWS[@]}" --version 2>&1 | cut -d' ' -f1)"
echo "- input: $SIZE of incompressible data, $ROUNDS rounds, run in turn"
echo
head -c "$SIZE" /dev/urandom > f
BYTES=$(stat -c %s f)
cat f > /dev/null

now() { date +%s.%N; }
declare -A T RSS
# stage NAME CMD...: runs CMD under GNU time, appends its peak RSS (KiB).
stage() {
    local name=$1; shift
    /usr/bin/time -f '%M' -o "rss.$name" "$@"
}
record_rss() { # name files...
    local name=$1; shift
    local max=0 v
    for f in "$@"; do v=$(cat "$f"); [ "$v" -gt "$max" ] && max=$v; done
    RSS[$name]="$max"
}
timed() { # name, bash command
    local name=$1 t0 t1
    t0=$(now); bash -c "$2"; t1=$(now)
    T[$name]+="$(echo "$t1 - $t0" | bc -l) "
}
export -f stage
export ES
export AWS_CMD="${AWS[*]}"
for r in $(seq 1 "$ROUNDS"); do
    echo "# round $r of $ROUNDS" >&2
    timed seal_s3 "stage es_seal_s3 \"$ES\" seal --key-file k.key --force -o s3://bench/es.envs f"
    record_rss es_seal_s3 rss.es_seal_s3
    timed seal_cli "set -o pipefail; stage es_seal_pipe \"$ES\" seal --key-file k.key f | stage aws_up \$AWS_CMD s3 cp --only-show-errors - s3://bench/cli.envs"
    record_rss es_seal_pipe rss.es_seal_pipe
    record_rss aws_up rss.aws_up
    timed open_s3 "stage es_open_s3 \"$ES\" open --key-file k.key s3://bench/es.envs > /dev/null"
    record_rss es_open_s3 rss.es_open_s3
    timed open_cli "set -o pipefail; stage aws_down \$AWS_CMD s3 cp --only-show-errors s3://bench/cli.envs - | stage es_open_pipe \"$ES\" open --key-file k.key > /dev/null"
    record_rss aws_down rss.aws_down
    record_rss es_open_pipe rss.es_open_pipe
done
"$ES" open --key-file k.key s3://bench/es.envs | cmp - f
"$ES" open --key-file k.key s3://bench/cli.envs | cmp - f

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f..%.2f", lo, hi}'; }
rate() { echo "scale=0; $BYTES / $1 / 1000000" | bc -l; }
echo "## Throughput ($SIZE, $server_version)"
echo
echo "| job | median s | min..max s | MB/s |"
echo "| --- | --- | --- | --- |"
for k in seal_s3 seal_cli open_s3 open_cli; do
    m=$(echo "${T[$k]}" | median)
    echo "| $k | $m | $(echo "${T[$k]}" | spread) | $(rate "$m") |"
done
ms() { echo "${T[$1]}" | median; }
echo
echo "- upload: \`seal -o s3://\` is $(echo "scale=2; $(ms seal_cli) / $(ms seal_s3)" | bc -l)x the speed of \`seal | aws s3 cp -\`"
echo "- restore: \`open s3://\` is $(echo "scale=2; $(ms open_cli) / $(ms open_s3)" | bc -l)x the speed of \`aws s3 cp - | open\`"
echo
echo "## Peak RSS (last round, MiB)"
echo
echo "| process | MiB |"
echo "| --- | --- |"
for k in es_seal_s3 es_seal_pipe aws_up es_open_s3 aws_down es_open_pipe; do
    echo "| $k | $(echo "scale=1; ${RSS[$k]} / 1024" | bc -l) |"
done
