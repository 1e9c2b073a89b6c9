#!/usr/bin/env bash
# limits.sh [ROUNDS] PROXY_BINARY — what the shared rig's figures can reach on
# this stack at all, beside llm-proxy, measured by the rig's own run.sh with
# compare.sh's topology and load (mock + server under test on core 1, wrk with
# 64 connections or streamload with 500 streams on core 0; llm-proxy with its
# default settings):
#   non-stream: the rig's floor, then cmd/floors with WORK_US = 2, 5
#               and 10 (the floor plus that much pure CPU work per request),
#               then llm-proxy: CPU-µs per request and its ratio to the floor;
#   stream:     nginx, floors with STREAM=1 (the floor relaying the answer as
#               it arrives: no routing, stats, logs or checks), then llm-proxy:
#               CPU-µs per stream, TTFB p50/p99, and ratios to nginx.
# ROUNDS (default 3) passes over all targets in turn, with a fresh llm-proxy
# each (as compare.sh starts one per run); medians over the rounds.
# About 2 minutes a round. Needs go, wrk, nginx, curl, taskset; ports 28290-28299.
set -euo pipefail
[ $# -eq 1 ] && set -- 3 "$1"
[ $# -eq 2 ] || { sed -n 2,16p "$0"; exit 2; }
ROUNDS=$1; BIN=$(readlink -f "$2")
HERE=$(cd "$(dirname "$0")" && pwd); RIG=${RIG:-$HERE/../../../shared/bench}; RIG=$(cd "$RIG" && pwd)
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx: apt-get install -y wrk nginx-light"; exit 2; }
W=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
(cd "$RIG/mockupstream" && go build -o "$W/mock" .) && (cd "$RIG/floor" && go build -o "$W/floor" .) && (cd "$HERE/../../cmd/floors" && go build -o "$W/floors" .)
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }
taskset -c 1 "$W/mock" -addr 127.0.0.1:28290 -chunk-delay 20ms -key upstream-key >/dev/null 2>&1 & pids+=($!)
mkdir -p "$W/ng"
cat >"$W/ng/nginx.conf" <<NG
worker_processes 1; pid $W/ng/nginx.pid; error_log $W/ng/error.log warn;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $W/ng/b; proxy_temp_path $W/ng/p; fastcgi_temp_path $W/ng/f; uwsgi_temp_path $W/ng/u; scgi_temp_path $W/ng/s;
  upstream mock { server 127.0.0.1:28290; keepalive 512; keepalive_requests 1000000; }
  map \$http_authorization \$client_ok { "Bearer client-key" 1; default 0; }
  server { listen 127.0.0.1:28291 backlog=4096; client_max_body_size 64m; keepalive_requests 1000000;
    location /v1/ { if (\$client_ok = 0) { return 401; }
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Authorization "Bearer upstream-key";
      proxy_buffering off; proxy_request_buffering off; proxy_read_timeout 600s; } } }
NG
taskset -c 1 nginx -c "$W/ng/nginx.conf" -p "$W/ng" -g 'daemon off;' >/dev/null 2>&1 & pids+=($!)
ADDR=127.0.0.1:28292 UP=127.0.0.1:28290 taskset -c 1 "$W/floor" >/dev/null 2>&1 & pids+=($!)
for t in 2:28293 5:28294 10:28295; do
	ADDR=127.0.0.1:${t#*:} UP=127.0.0.1:28290 WORK_US=${t%:*} taskset -c 1 "$W/floors" >/dev/null 2>&1 & pids+=($!)
done
ADDR=127.0.0.1:28297 UP=127.0.0.1:28290 STREAM=1 taskset -c 1 "$W/floors" >/dev/null 2>&1 & pids+=($!)
for p in 28291 28292 28293 28294 28295 28297; do wait_up "http://127.0.0.1:$p/"; done
start_proxy() { # a fresh llm-proxy (new working directory) for each round, as compare.sh starts one per run
	mkdir -p "$W/lp-$r"
	(cd "$W/lp-$r" && PROXY_URL=http://127.0.0.1:28290/v1 API_KEY=upstream-key MY_ACCESS_KEY=client-key PORT=28299 exec taskset -c 1 "$BIN" >proxy.log 2>&1) &
	proxy=$!; pids+=("$proxy"); wait_up http://127.0.0.1:28299/healthz
}
export REPEAT=1 CONC=64 DURATION=${DURATION:-10s} STREAM_CONC=500 STREAM_DURATION=12s MOCK_URL=http://127.0.0.1:28290
run() { # run NAME PORT SKIP_NONSTREAM SKIP_STREAM
	SKIP_NONSTREAM=$3 SKIP_STREAM=$4 OUT=$W/$1-$r "$RIG/run.sh" "$1" "http://127.0.0.1:$2/v1" >"$W/$1-$r.txt" 2>&1 || { echo "$1 run failed:"; tail -5 "$W/$1-$r.txt"; exit 1; }
	cat "$W/$1-$r/results.tsv" >>"$W/all.tsv"
}
for r in $(seq "$ROUNDS"); do
	start_proxy
	run floor 28292 "" 1; run floor+2us 28293 "" 1; run floor+5us 28294 "" 1; run floor+10us 28295 "" 1; run llm-proxy 28299 "" 1
	run nginx 28291 1 ""; run stream-floor 28297 1 ""; run llm-proxy 28299 1 ""
	kill "$proxy"; wait "$proxy" 2>/dev/null || true
	echo "round $r of $ROUNDS done" >&2
done
"$RIG/summarize.sh" "$W/all.tsv" | sed -n '1,/^$/p'
med() { awk -F'\t' -v k="$1" -v n="$2" -v c="$3" '$1==k && $2==n {print $c}' "$W/all.tsv" | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
fl=$(med nonstream floor 8); ng=$(med stream nginx 10); ngt=$(med stream nginx 5)
printf 'CPU-µs/req over the floor (medians of %s rounds):' "$ROUNDS"
for t in floor+2us floor+5us floor+10us llm-proxy; do printf ' %s %.2f ×' "$t" "$(awk -v a="$(med nonstream "$t" 8)" -v b="$fl" 'BEGIN{print a/b}')"; done; echo
printf 'stream over nginx: CPU-µs/stream stream-floor %.2f ×, llm-proxy %.2f ×; TTFB p99 stream-floor %.2f ×, llm-proxy %.2f ×\n' \
	"$(awk -v a="$(med stream stream-floor 10)" -v b="$ng" 'BEGIN{print a/b}')" "$(awk -v a="$(med stream llm-proxy 10)" -v b="$ng" 'BEGIN{print a/b}')" \
	"$(awk -v a="$(med stream stream-floor 5)" -v b="$ngt" 'BEGIN{print a/b}')" "$(awk -v a="$(med stream llm-proxy 5)" -v b="$ngt" 'BEGIN{print a/b}')"
