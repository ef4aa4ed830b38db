#!/usr/bin/env bash
# Daemon benchmark: `aikwatch serve` with the full Nov-2024 state, sweeping every 10 s against
# `aikwatch simulate`, under a constant open-loop load of HTTP requests from bench/load.
#   bench/daemon.sh [DURATION] [RATE] [LATENCY_MS]     (defaults: 60s per phase, 50 req/s, 50 ms)
# Environment (for diagnosis; the defaults are the issue's benchmark):
#   PHASES="mix=/metrics,/api/v1/status,/api/v1/hosts,/api/v1/trustlist"   the phases (NAME=PATH,... ...)
#   SWEEP="@every 1h"        the sweep schedule (default "@every 10s": sweeps during the load)
#   SERVE_GOMEMLIMIT=64MiB   GOMEMLIMIT for `aikwatch serve` only
#   KEEP=DIR                 keep the logs, the configuration and load.json in DIR
# Default: two phases, each DURATION at RATE req/s: the three API endpoints in turn, then
# /metrics alone. Goals (the issue): p99 <= 20 ms for /metrics and the API, steady RSS <= 80 MB.
# Needs curl and python3. Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60s}
rate=${2:-50}
latency=${3:-50}
sweep=${SWEEP:-"@every 10s"}
phases=${PHASES:-"api=/api/v1/status,/api/v1/hosts,/api/v1/trustlist metrics=/metrics"}
cab=testdata/trustedtpm/TrustedTpm-2024-11-21.cab
out=$(mktemp -d)
sim_pid= serve_pid=
stop() { # stop PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$serve_pid"
  stop "$sim_pid"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$out"/*.log "$out"/*.json "$out"/*.yml "$KEEP"/ 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
go build -trimpath -o "$out/aikwatch" ./cmd/aikwatch
go build -trimpath -o "$out/load" ./bench/load

# The simulator on free ports; its banner says where it listens.
"$out/aikwatch" simulate --listen 127.0.0.1:0 --control-addr 127.0.0.1:0 --trustlist "$cab" \
  --ca-out "$out/ca.pem" --log.level warn >"$out/sim.out" 2>"$out/sim.log" &
sim_pid=$!
addr= control=
for _ in $(seq 1 300); do
  addr=$(awk '$1 == "https" {print $2; exit}' "$out/sim.out")
  control=$(awk '$1 == "control" {print $2; exit}' "$out/sim.out")
  [ -n "$addr" ] && [ -n "$control" ] && [ -s "$out/ca.pem" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "simulator exited:" >&2; cat "$out/sim.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] && [ -n "$control" ] || { echo "simulator did not start:" >&2; cat "$out/sim.out" "$out/sim.log" >&2; exit 1; }
case "$control" in http://*) ;; *) control="http://$control" ;; esac
curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\"latency_ms\":$latency}" "$control/defaults" >/dev/null

# The daemon: every name resolves to the simulator (trust list from its go.microsoft.com, AIK
# hosts, EK services); sweeps every 10 s (SWEEP) so that they run during the load; no jitter.
cat >"$out/aikwatch.yml" <<EOF
data_dir: $out/data
schedule: {trustlist: "@every 1m", sweep: "$sweep", ek_services: "@every 1m", ek_cas: "@every 1h", jitter: 0s}
network: {resolve: ["*=$addr"], ca_files: ["$out/ca.pem"]}
EOF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
serve_env=()
[ -n "${SERVE_GOMEMLIMIT:-}" ] && serve_env=(GOMEMLIMIT="$SERVE_GOMEMLIMIT")
env "${serve_env[@]}" "$out/aikwatch" serve --config "$out/aikwatch.yml" --web.listen-address "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
serve_pid=$!
t0=$(date +%s%N)
ready=
for _ in $(seq 1 1200); do # up to 120 s for the first full state (refresh, then sweep)
  kill -0 "$serve_pid" 2>/dev/null || { echo "aikwatch serve exited:" >&2; cat "$out/serve.log" >&2; exit 1; }
  if curl -fsS "$base/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "aikwatch serve not ready after 120 s:" >&2; tail -50 "$out/serve.log" >&2; exit 1; }
ready_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
hosts=$(curl -fsS "$control/trustlist" | python3 -c 'import json,sys; print(json.load(sys.stdin)["aik_hosts"])')

phase_args=()
for p in $phases; do phase_args+=(-phase "$p"); done
"$out/load" -base "$base" -pid "$serve_pid" -rate "$rate" -duration "$duration" -warmup 5s \
  -json "$out/load.json" "${phase_args[@]}" >"$out/table.md" 2>"$out/load.log" || {
  echo "load client failed:" >&2; cat "$out/load.log" >&2; exit 1; }
if grep -q 'level=\(WARN\|ERROR\)' "$out/serve.log"; then
  echo "(daemon warnings during the run:)" >&2
  grep 'level=\(WARN\|ERROR\)' "$out/serve.log" | tail -20 >&2
fi

echo "\`aikwatch serve\` with the Nov-2024 TrustedTpm.cab ($hosts AIK hosts) against \`aikwatch simulate\` (${latency} ms added latency per answer);"
echo "sweep \"$sweep\", trust list and EK services every 1 m, no jitter${SERVE_GOMEMLIMIT:+, GOMEMLIMIT=$SERVE_GOMEMLIMIT for the daemon}; first full state after ${ready_s} s."
echo "Open-loop load from bench/load: $rate req/s per phase for $duration after a 5 s warm-up, latency from the scheduled send time to the end of the body, no gzip."
echo "$(nproc) cores, $(go version | cut -d' ' -f3), $(uname -sr)."
echo
cat "$out/table.md"
