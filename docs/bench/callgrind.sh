#!/usr/bin/env bash
# callgrind.sh PROXY_BINARY [SECONDS] — user-space instructions per request
# of llm-proxy (default settings: SQLite on, info log line) under the shared
# rig's non-stream request, counted by valgrind's callgrind. The rig's floor
# (or cmd/floors) can be counted the same way: it gets ADDR and UP. CPU time on a
# shared machine moves by ±10 % from run to run; this count is repeatable to
# about ±2.5 % whatever else the machine does, so it shows changes of a few
# percent that compare.sh cannot. It does not count the kernel (system calls).
#
#   go build -trimpath -o /tmp/lp-new . && docs/bench/callgrind.sh /tmp/lp-new
#
# Keep the binary's symbols (no -ldflags "-s -w") to read the profile it
# leaves: callgrind_annotate <printed file>. Needs valgrind, wrk, curl and go.
# The load is the rig's own request (chat.lua, 8 connections); the requests
# counted are those the mock upstream saw between the counter's reset and
# the dump.
# Go under valgrind: async preemption off (callgrind trips on its signals)
# and the RDTSCP path off (valgrind 3.19 cannot decode it).
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,18p "$0"; exit 2; }
BIN=$(readlink -f "$1"); SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd); RIG=${RIG:-$HERE/../../../shared/bench}
W=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
(cd "$RIG/mockupstream" && go build -o "$W/mock" .)
"$W/mock" -addr 127.0.0.1:28390 -key upstream-key >/dev/null 2>&1 & pids+=($!)
(cd "$W" && exec env PROXY_URL=http://127.0.0.1:28390/v1 API_KEY=upstream-key MY_ACCESS_KEY=client-key PORT=28396 \
	ADDR=127.0.0.1:28396 UP=127.0.0.1:28390 \
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$BIN" >"$W/proxy.log" 2>&1) & pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null http://127.0.0.1:28396/healthz && break; sleep 0.2; done
URL=http://127.0.0.1:28396/v1/chat/completions
mocked() { curl -fs http://127.0.0.1:28390/mock/stats | grep -o '"requests":[0-9]*' | cut -d: -f2; }
wrk -t1 -c8 -d3s -s "$RIG/chat.lua" "$URL" >/dev/null   # warm-up: pools, caches, the first flushes
callgrind_control -z "${pids[1]}" >/dev/null 2>&1 || callgrind_control -z >/dev/null
before=$(mocked)
wrk -t1 -c8 -d"${SECS}s" -s "$RIG/chat.lua" "$URL" >"$W/wrk.txt"
callgrind_control -d >/dev/null 2>&1
N=$(( $(mocked) - before ))
grep -q 'Non-2xx' "$W/wrk.txt" && { echo "some requests failed:"; cat "$W/wrk.txt"; exit 1; }
for _ in $(seq 100); do grep -qE '^totals:' "$W/cg.out.1" 2>/dev/null && break; sleep 0.2; done
ir=$(awk '/^totals:/ {print $2; exit}' "$W/cg.out.1")
out=${OUT:-/tmp/callgrind.$(basename "$BIN").$$}
cp "$W/cg.out.1" "$out"
echo "instructions/request: $((ir / N))   ($N requests; profile: $out)"
