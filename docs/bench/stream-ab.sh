#!/usr/bin/env bash
# stream-ab.sh ROUNDS BINARY_A BINARY_B — paired A/B of CPU-µs per stream on
# the shared rig's stream load: the rig's mock upstream (-chunk-delay 20ms)
# and the proxy under test (default settings) on core 1, the rig's
# streamload (500 concurrent streams, 10 s after a 2 s warm-up) on core 0,
# as compare.sh runs them. A and B run in turn, ROUNDS times; it prints each
# round (CPU-µs per stream, TTFB p99 ms) and the mean paired difference
# B − A with its standard error. cmd/bench -compare does this for the
# non-stream load; a stream's cost moves by ±10 % between runs here, so
# judge a stream change by the paired difference, not by two compare.sh runs.
#
#   docs/bench/stream-ab.sh 6 ./llm-proxy-old ./llm-proxy-new
#
# Needs go, curl, taskset; ports 28490 and 28496 free.
set -euo pipefail
[ $# -eq 3 ] || { sed -n 2,14p "$0"; exit 2; }
ROUNDS=$1; A=$(readlink -f "$2"); B=$(readlink -f "$3")
HERE=$(cd "$(dirname "$0")" && pwd); RIG=${RIG:-$HERE/../../../shared/bench}
W=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
(cd "$RIG/mockupstream" && go build -o "$W/mock" .) && (cd "$RIG/streamload" && go build -o "$W/streamload" .)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12+$13}'; }
load() { taskset -c 0 "$W/streamload" -url http://127.0.0.1:28496/v1/chat/completions -key client-key -model gpt-4o-mini -c 500 -d "$1" -kv; }
one() { # one measured run of binary $1: "CPU-µs/stream TTFB-p99-ms"
	local d="$W/run" mock proxy t0 t1 out
	rm -rf "$d" && mkdir -p "$d"
	taskset -c 1 "$W/mock" -addr 127.0.0.1:28490 -chunk-delay 20ms -key upstream-key >/dev/null 2>&1 & mock=$!
	(cd "$d" && PROXY_URL=http://127.0.0.1:28490/v1 API_KEY=upstream-key MY_ACCESS_KEY=client-key PORT=28496 exec taskset -c 1 "$1" >proxy.log 2>&1) & proxy=$!
	pids=("$mock" "$proxy")
	for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:28496/healthz && break; sleep 0.1; done
	load 2s >/dev/null
	t0=$(ticks "$proxy")
	out=$(load 10s | grep -m1 '^streams=')
	t1=$(ticks "$proxy")
	kill "$proxy" "$mock"; wait "$proxy" "$mock" 2>/dev/null || true
	awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v kv="$out" 'BEGIN {
		n = split(kv, f, " "); for (i = 1; i <= n; i++) { split(f[i], p, "="); v[p[1]] = p[2] }
		if (v["errors"] + 0 > 0) { print "stream errors: " v["errors"] > "/dev/stderr" }
		printf "%.1f %s\n", t * 1e6 / hz / v["streams"], v["ttfb_p99_ms"] }'
}
for r in $(seq "$ROUNDS"); do
	a=$(one "$A"); b=$(one "$B")
	echo "round $r  A ${a% *} µs/stream (TTFB p99 ${a#* } ms)  B ${b% *} µs/stream (TTFB p99 ${b#* } ms)"
	echo "${a% *} ${b% *}" >>"$W/pairs"
done
awk '{ a += $1; b += $2; d = $2 - $1; s += d; q += d * d; n++ } END {
	m = s / n; se = n > 1 ? sqrt((q - n * m * m) / (n - 1) / n) : 0
	printf "CPU-µs per stream: A %.1f, B %.1f; B - A = %.1f ± %.1f (standard error, %d pairs)\n", a / n, b / n, m, se, n }' "$W/pairs"
