#!/usr/bin/env bash
# Whole-process benchmark of one AIK CA sweep, and the same work done by blackbox_exporter, in
# one run: `aikwatch probe` over every AIK host of the Nov-2024 TrustedTpm.cab against
# `aikwatch simulate` with LATENCY_MS added to every answer, at aikwatch's default concurrency,
# and prometheus/blackbox_exporter v0.25.0 (built from the Go module proxy as a tool of the
# module in bench/blackbox) probing the same two SCEP URLs of every host on the same simulator
# with an equivalent http module (bench/blackbox/blackbox.yml), driven by bench/blackbox/driver
# at the same concurrency; and, as a check, blackbox_exporter probing only GetCACertChain (one
# request and one TLS handshake per host). Runs alternate between the tools; medians are reported.
#   bench/probe.sh [RUNS] [LATENCY_MS]     (defaults: 5 runs, 50 ms)
# Needs go, curl, python3 and GNU time (/usr/bin/time); builds everything into a temp dir.
# Goals: one sweep in <= 3 s wall time; aikwatch uses no more CPU per probe than
# blackbox_exporter. Prints Markdown tables for BENCHMARKS.md. Loopback only (the module proxy
# is reached once, by the build, when the module cache lacks blackbox_exporter).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
latency=${2:-50}
cab=testdata/trustedtpm/TrustedTpm-2024-11-21.cab
out=$(mktemp -d)
sim_pid= bb_pid=
stop() { # stop PID: end a process this script started and reap it
  if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop "$bb_pid"
  stop "$sim_pid"
  rm -rf "$out"
}
trap cleanup EXIT
for tool in go curl python3; do command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }; done
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

echo "building aikwatch, blackbox_exporter v0.25.0 and the driver..." >&2
go build -trimpath -o "$out/aikwatch" ./cmd/aikwatch
(cd bench/blackbox && go build -trimpath -buildvcs=false -o "$out/blackbox_exporter" github.com/prometheus/blackbox_exporter)
(cd bench/blackbox && go build -trimpath -buildvcs=false -o "$out/driver" ./driver)
bb_version=$(go version -m "$out/blackbox_exporter" | awk '$1 == "mod" {print $3}')
[ "$bb_version" = v0.25.0 ] || { echo "blackbox_exporter built at $bb_version, want v0.25.0" >&2; exit 1; }
concurrency=$("$out/aikwatch" probe --help 2>&1 | sed -n 's/.*--concurrency=\([0-9]*\).*/\1/p' | head -1)
[ -n "$concurrency" ] || { echo "cannot read aikwatch probe's default --concurrency" >&2; exit 1; }

# The simulator on free ports; its banner says where it listens.
"$out/aikwatch" simulate --listen 127.0.0.1:0 --control-addr 127.0.0.1:0 --trustlist "$cab" \
  --ca-out "$out/ca.pem" --log.level warn >"$out/sim.out" 2>"$out/sim.err" &
sim_pid=$!
addr= control=
for _ in $(seq 1 300); do
  addr=$(awk '$1 == "https" {print $2; exit}' "$out/sim.out")
  control=$(awk '$1 == "control" {print $2; exit}' "$out/sim.out")
  [ -n "$addr" ] && [ -n "$control" ] && [ -s "$out/ca.pem" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "simulator exited:" >&2; cat "$out/sim.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] && [ -n "$control" ] || { echo "simulator did not start:" >&2; cat "$out/sim.out" "$out/sim.err" >&2; exit 1; }
case "$control" in http://*) ;; *) control="http://$control" ;; esac
curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\"latency_ms\":$latency}" "$control/defaults" >/dev/null

# start_blackbox: a fresh blackbox_exporter on a free port (bb_pid, bb_addr), in a directory
# holding its config and the simulator's CA (its ca_file is relative to the working directory).
cp bench/blackbox/blackbox.yml "$out/blackbox.yml"
cp "$out/ca.pem" "$out/sim-ca.pem"
start_blackbox() {
  (cd "$out" && exec ./blackbox_exporter --config.file=blackbox.yml --web.listen-address=127.0.0.1:0) \
    >"$out/bb.out" 2>"$out/bb.err" &
  bb_pid=$!
  bb_addr=
  for _ in $(seq 1 300); do
    bb_addr=$(sed -n 's/.*msg="Listening on" address=\([0-9.:]*\).*/\1/p' "$out/bb.err" | head -1)
    [ -n "$bb_addr" ] && break
    kill -0 "$bb_pid" 2>/dev/null || { echo "blackbox_exporter exited:" >&2; cat "$out/bb.err" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$bb_addr" ] || { echo "blackbox_exporter did not start:" >&2; cat "$out/bb.err" >&2; exit 1; }
}
stop_blackbox() { stop "$bb_pid"; bb_pid=; }

# ticks PID: user+system CPU clock ticks (1/100 s) of a running process.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

net=(--resolve "*=$addr" --ca-file "$out/ca.pem")
full=("$out/aikwatch" probe --trustlist "$cab" "${net[@]}" -o json)
cabonly=("$out/aikwatch" probe --trustlist "$cab" "${net[@]}" --vendor NO-SUCH-VENDOR -o json)

# Warm-up (page cache, simulator, exporter), and the host list for --host and the driver.
"${full[@]}" >"$out/probe.json" || { echo "warm-up sweep failed" >&2; exit 1; }
python3 -c 'import json,sys; print("\n".join(r["host"] for r in json.load(open(sys.argv[1]))["results"]))' "$out/probe.json" >"$out/hosts.txt"
hosts=$(wc -l <"$out/hosts.txt")
requests=$((hosts * 2)) # GetCACaps + GetCACertChain per host, for both tools
hostflags=()
while read -r h; do hostflags+=(--host "$h"); done <"$out/hosts.txt"
byhost=("$out/aikwatch" probe "${hostflags[@]}" "${net[@]}" -o json)
driver=("$out/driver" -module aik -sim "$addr" -hosts "$out/hosts.txt" -concurrency "$concurrency")
start_blackbox
"${driver[@]}" -exporter "http://$bb_addr" >/dev/null || { echo "blackbox_exporter warm-up failed" >&2; exit 1; }
stop_blackbox

# timed NAME CMD...: run CMD under GNU time; appends "wall cpu rss_kb sim_cpu" to $out/NAME.
timed() {
  local name=$1 rc s0 s1 wall user sys rss
  shift
  s0=$(ticks "$sim_pid")
  set +e
  /usr/bin/time -o "$out/time" -f '%e %U %S %M' "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"
  rc=$?
  set -e
  s1=$(ticks "$sim_pid")
  read -r wall user sys rss < <(tail -1 "$out/time")
  echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", (b-a)/100}')" >>"$out/$name"
  return $rc
}
# check_sweep NAME: the sweep in $out/NAME.stdout probed every host, all ok; appends its
# sweep duration to $out/NAME.sweep.
check_sweep() {
  local total ok failing dur
  read -r total ok failing dur < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["total"], s["ok"], s["failing"], s["duration_seconds"])' "$out/$1.stdout")
  if [ "$total" -ne "$hosts" ] || [ "$failing" -ne 0 ]; then
    echo "$1: $failing of $total failing (want $hosts ok)" >&2
    exit 1
  fi
  echo "$dur" >>"$out/$1.sweep"
}
run_aikwatch() {
  timed full "${full[@]}" || { echo "aikwatch probe failed:" >&2; cat "$out/full.stderr" >&2; exit 1; }
  check_sweep full
  if timed cabonly "${cabonly[@]}" || ! grep -q 'no AIK host of that vendor' "$out/cabonly.stderr"; then
    echo "the cab-only run did not stop at the vendor filter:" >&2; cat "$out/cabonly.stderr" >&2; exit 1
  fi
  timed byhost "${byhost[@]}" || { echo "aikwatch probe --host failed:" >&2; cat "$out/byhost.stderr" >&2; exit 1; }
  check_sweep byhost
}
# run_blackbox NAME OPS WANT: one sweep by a fresh blackbox_exporter probing OPS of every host
# (driver -ops), WANT /probe requests in all; appends "wall cpu rss_kb sim_cpu" to $out/NAME.
# Like aikwatch, a new process per sweep; its start-up is not counted: the driver measures its
# CPU from before its first /probe to after its last.
run_blackbox() {
  local name=$1 ops=$2 want=$3 s0 s1 line
  start_blackbox
  s0=$(ticks "$sim_pid")
  line=$("${driver[@]}" -exporter "http://$bb_addr" -ops "$ops" -pid "$bb_pid") || { echo "blackbox_exporter run failed: $line" >&2; exit 1; }
  s1=$(ticks "$sim_pid")
  stop_blackbox
  # hosts= probes= ok= failed= wall_s= cpu_user_s= cpu_sys_s= hwm_kb= hwm_reset=
  eval "local $line"
  [ "$probes" -eq "$want" ] && [ "$failed" -eq 0 ] || { echo "blackbox_exporter: $line" >&2; exit 1; }
  echo "$wall_s $(awk -v u="$cpu_user_s" -v s="$cpu_sys_s" 'BEGIN{printf "%.2f", u+s}') $hwm_kb $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", (b-a)/100}')" >>"$out/$name"
}
run_blackboxes() {
  run_blackbox bb GetCACaps,GetCACertChain:default "$requests"
  run_blackbox bb1 GetCACertChain:default "$hosts"
}
for ((i = 0; i < runs; i++)); do
  echo "run $((i + 1)) of $runs" >&2
  if ((i % 2 == 0)); then run_aikwatch; run_blackboxes; else run_blackboxes; run_aikwatch; fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# col NAME N: median of column N of $out/NAME.
col() { awk -v c="$2" '{print $c}' "$out/$1" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
f2() { awk -v v="$1" 'BEGIN{printf "%.2f", v}'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
per() { awk -v v="$1" -v n="$2" -v k="$3" 'BEGIN{printf "%.2f", v * k / n}'; } # per VALUE N SCALE
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
for n in full cabonly byhost bb bb1; do
  eval "${n}_wall=\$(col $n 1) ${n}_cpu=\$(col $n 2) ${n}_rss=\$(col $n 3) ${n}_sim=\$(col $n 4)"
done
full_sweep=$(col full.sweep 1)
byhost_sweep=$(col byhost.sweep 1)
net_cpu=$(awk -v a="$full_cpu" -v b="$cabonly_cpu" 'BEGIN{printf "%.3f", a - b}')

row() { # row LABEL HOSTS REQUESTS WALL CPU RSS_KB SIM_CPU
  local label=$1 n=$2 nreq=$3 wall=$4 cpu=$5 rss=$6 sim=$7 rssmb=- rss1k=- per1k=- perreq=- simper=-
  if [ "$rss" != - ]; then rssmb=$(mb "$rss"); fi
  if [ "$n" -gt 0 ]; then
    per1k=$(per "$cpu" "$n" 1000)
    perreq=$(per "$cpu" "$nreq" 1000)
    if [ "$rss" != - ]; then rss1k=$(awk -v k="$rss" -v n="$n" 'BEGIN{printf "%.1f", k/1024*1000/n}'); fi
    if [ "$sim" != - ]; then simper=$(per "$sim" "$n" 1000); fi
  fi
  echo "| $label | $n | $nreq | $wall | $(f2 "$cpu") | $per1k | $perreq | $rssmb | $rss1k | $simper |"
}
cpu_ok=$(awk -v a="$net_cpu" -v b="$bb_cpu" 'BEGIN{print (a <= b) ? "met" : "MISSED"}')
wall_ok=$(awk -v w="$full_wall" 'BEGIN{print (w <= 3.0) ? "met" : "MISSED"}')

echo "Nov-2024 TrustedTpm.cab: $hosts AIK hosts, 2 requests each (GetCACaps, GetCACertChain); ${latency} ms added by the simulator to every answer; concurrency $concurrency (aikwatch's default) for both tools; $runs alternating runs, medians; $(nproc) cores shared with the simulator and whatever else runs; load average $load_start at the start, $load_end at the end; $(go version | cut -d' ' -f3); blackbox_exporter $bb_version built with the same Go."
echo
echo "| run | hosts | requests | wall s | CPU s (user+sys) | CPU s per 1,000 hosts | CPU s per 1,000 requests | peak RSS MB | peak RSS MB per 1,000 hosts | simulator CPU s per 1,000 hosts |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row "\`aikwatch probe --trustlist CAB\` (whole command: start, cab verify + index, sweep, JSON)" "$hosts" "$requests" "$full_wall" "$full_cpu" "$full_rss" "$full_sim"
row "\`aikwatch probe --trustlist CAB --vendor NO-SUCH-VENDOR\` (start + cab only: exits 2 before probing)" 0 0 "$cabonly_wall" "$cabonly_cpu" "$cabonly_rss" -
row "aikwatch sweep alone (first row − second row, CPU medians)" "$hosts" "$requests" - "$net_cpu" - -
row "\`aikwatch probe --host H1 ... --host H$hosts\` (no trust list: start + sweep + JSON)" "$hosts" "$requests" "$byhost_wall" "$byhost_cpu" "$byhost_rss" "$byhost_sim"
row "blackbox_exporter $bb_version, 2 \`/probe\` per host, GetCACaps + GetCACertChain (a fresh exporter per run: its CPU from the first /probe to the last, its VmHWM)" "$hosts" "$requests" "$bb_wall" "$bb_cpu" "$bb_rss" "$bb_sim"
row "blackbox_exporter $bb_version, 1 \`/probe\` per host, GetCACertChain only (half the requests; one TLS handshake per host, as aikwatch)" "$hosts" "$hosts" "$bb1_wall" "$bb1_cpu" "$bb1_rss" "$bb1_sim"
echo
echo "| aikwatch ÷ blackbox_exporter (same run) | CPU per host | peak RSS | goal |"
echo "|---|---:|---:|---|"
echo "| sweep alone (whole command − cab-only) | $(ratio "$net_cpu" "$bb_cpu") | | ≤ 1.00 CPU per probe: $cpu_ok |"
echo "| \`--host\` ×$hosts, no trust list | $(ratio "$byhost_cpu" "$bb_cpu") | $(ratio "$byhost_rss" "$bb_rss") | |"
echo "| whole command with the cab | $(ratio "$full_cpu" "$bb_cpu") | $(ratio "$full_rss" "$bb_rss") | |"
echo "| sweep alone (2 requests per host) ÷ blackbox_exporter with 1 request per host | $(ratio "$net_cpu" "$bb1_cpu") | $(ratio "$byhost_rss" "$bb1_rss") (\`--host\` run) | |"
echo
echo "In the first three ratios both tools make the same 2 requests per host, so the ratio per request is the same as per host; the last gives blackbox_exporter half the requests (and so the same one TLS handshake per host as aikwatch, which reuses its connection for the second request)."
echo
echo "Sweep wall time at concurrency $concurrency, ${latency} ms latency: \`aikwatch probe --trustlist CAB\` $(f2 "$full_wall") s for the whole command (sweep alone $(f2 "$full_sweep") s; with --host and no cab $(f2 "$byhost_wall") s, sweep $(f2 "$byhost_sweep") s) — goal ≤ 3 s: $wall_ok. blackbox_exporter: $(f2 "$bb_wall") s for the same $requests requests."
