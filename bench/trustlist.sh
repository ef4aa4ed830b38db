#!/usr/bin/env bash
# Whole-process benchmarks of the trust-list commands against cabextract, in one run, as ratios.
#   bench/trustlist.sh [RUNS]      (default 21 runs of each, alternating)
# Needs cabextract and GNU time (/usr/bin/time). Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-21}
cab=testdata/trustedtpm/TrustedTpm-2024-11-21.cab
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -trimpath -o "$out/aikwatch" ./cmd/aikwatch
command -v cabextract >/dev/null || { echo "cabextract is required (apt-get install cabextract)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }

# ms CMD...: wall-clock milliseconds of one run (output discarded).
ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

show=() cabp=() ext=() cabd=()
for ((i = 0; i < runs; i++)); do
  show+=("$(ms "$out/aikwatch" trustlist show --output json "$cab")")
  cabp+=("$(ms sh -c "cabextract -q -p '$cab' >/dev/null")")
  rm -rf "$out/x1" "$out/x2"
  ext+=("$(ms "$out/aikwatch" trustlist extract "$cab" "$out/x1")")
  cabd+=("$(ms cabextract -q -d "$out/x2" "$cab")")
done
m_show=$(printf '%s\n' "${show[@]}" | median)
m_cabp=$(printf '%s\n' "${cabp[@]}" | median)
m_ext=$(printf '%s\n' "${ext[@]}" | median)
m_cabd=$(printf '%s\n' "${cabd[@]}" | median)
rss_show=$(rss "$out/aikwatch" trustlist show --output json "$cab")
rm -rf "$out/x1"
rss_ext=$(rss "$out/aikwatch" trustlist extract "$cab" "$out/x1")
rss_cab=$(rss cabextract -q -p "$cab")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "Nov-2024 TrustedTpm.cab, $runs alternating runs each, median wall time; $(nproc) cores; $(go version | cut -d' ' -f3); $(cabextract --version | head -1)"
echo
echo "| command | median ms | peak RSS MB | ratio | goal |"
echo "|---|---:|---:|---:|---|"
echo "| \`cabextract -p FILE > /dev/null\` (decompress only) | $m_cabp | $(awk -v k="$rss_cab" 'BEGIN{printf "%.1f", k/1024}') | 1.00 | |"
echo "| \`aikwatch trustlist show --output json FILE\` (verify + extract + index + JSON) | $m_show | $(awk -v k="$rss_show" 'BEGIN{printf "%.1f", k/1024}') | $(ratio "$m_show" "$m_cabp") | ≤ 3×, RSS ≤ 64 MB |"
echo "| \`cabextract -d DIR FILE\` | $m_cabd | | 1.00 | |"
echo "| \`aikwatch trustlist extract FILE DIR\` (verify + extract + write) | $m_ext | $(awk -v k="$rss_ext" 'BEGIN{printf "%.1f", k/1024}') | $(ratio "$m_ext" "$m_cabd") | ≤ 1.5× |"
