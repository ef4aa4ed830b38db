#!/usr/bin/env bash
# Whole-process benchmark of one AIK CA sweep: `aikwatch probe` over every AIK host of the
# Nov-2024 TrustedTpm.cab against `aikwatch simulate` with 50 ms of latency added to every answer.
#   bench/probe.sh [RUNS] [LATENCY_MS]     (defaults: 5 runs, 50 ms)
# Needs curl and GNU time (/usr/bin/time). Goal: one sweep in <= 3 s wall time.
# Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
latency=${2:-50}
cab=testdata/trustedtpm/TrustedTpm-2024-11-21.cab
out=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }
go build -trimpath -o "$out/aikwatch" ./cmd/aikwatch

# The simulator on free ports; its banner says where it listens.
"$out/aikwatch" simulate --listen 127.0.0.1:0 --control-addr 127.0.0.1:0 --trustlist "$cab" \
  --ca-out "$out/ca.pem" --log.level warn >"$out/sim.out" 2>"$out/sim.err" &
sim_pid=$!
addr= control=
for _ in $(seq 1 200); do
  addr=$(awk '$1 == "https" {print $2; exit}' "$out/sim.out")
  control=$(awk '$1 == "control" {print $2; exit}' "$out/sim.out")
  [ -n "$addr" ] && [ -n "$control" ] && [ -s "$out/ca.pem" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "simulator exited:" >&2; cat "$out/sim.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] && [ -n "$control" ] || { echo "simulator did not start:" >&2; cat "$out/sim.out" "$out/sim.err" >&2; exit 1; }
case "$control" in http://*) ;; *) control="http://$control" ;; esac
curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\"latency_ms\":$latency}" "$control/defaults" >/dev/null

probe=("$out/aikwatch" probe --trustlist "$cab" --resolve "*=$addr" --ca-file "$out/ca.pem" -o json)
walls=() cpus=() rsss=()
hosts=0
for ((i = 0; i < runs; i++)); do
  set +e
  /usr/bin/time -o "$out/time" -f '%e %U %S %M' "${probe[@]}" >"$out/probe.json"
  rc=$?
  set -e
  read -r wall user sys rss <"$out/time"
  summary=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["total"], s["ok"], s["failing"])' "$out/probe.json")
  read -r total ok failing <<<"$summary"
  if [ "$rc" -ne 0 ] || [ "$failing" -ne 0 ]; then
    echo "run $i: exit $rc, $failing of $total failing" >&2
    exit 1
  fi
  hosts=$total
  walls+=("$wall")
  cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')")
  rsss+=("$rss")
done
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
m_wall=$(printf '%s\n' "${walls[@]}" | median)
m_cpu=$(printf '%s\n' "${cpus[@]}" | median)
m_rss=$(printf '%s\n' "${rsss[@]}" | median)
probes=$hosts # one probe (GetCACaps + GetCACertChain) per host
per1k() { awk -v v="$1" -v n="$probes" 'BEGIN{printf "%.2f", v * 1000 / n}'; }
verdict=$(awk -v w="$m_wall" 'BEGIN{print (w <= 3.0) ? "met" : "MISSED"}')

echo "Nov-2024 TrustedTpm.cab: $hosts AIK hosts, 2 requests each, ${latency} ms added latency per answer, default concurrency; $runs runs, medians; $(nproc) cores; $(go version | cut -d' ' -f3)"
echo "(wall, CPU and RSS include reading, verifying and indexing the cab: about 0.2 s and ~53 MB of RSS on their own)"
echo
echo "| command | wall s | CPU s (user+sys) | peak RSS MB | CPU s per 1,000 probes | RSS MB per 1,000 probes | goal |"
echo "|---|---:|---:|---:|---:|---:|---|"
echo "| \`aikwatch probe --trustlist FILE --resolve '*=ADDR' --ca-file ca.pem -o json\` | $m_wall | $m_cpu | $(awk -v k="$m_rss" 'BEGIN{printf "%.1f", k/1024}') | $(per1k "$m_cpu") | $(awk -v k="$m_rss" -v n="$probes" 'BEGIN{printf "%.1f", k/1024*1000/n}') | ≤ 3 s wall: $verdict |"
echo "| blackbox_exporter (same hosts, same simulator) | TODO | TODO | TODO | TODO | TODO | comparison not run yet: hook for a blackbox_exporter run against \$addr with --resolve-equivalent DNS |"
