#!/bin/bash
# raiden idle watchdog, run every minute by raiden-watchdog.timer. Sums SGLang's running and queued
# requests over every server's /metrics; after RAIDEN_IDLE_MINUTES of zero it scales the instance in.
# A request that finished since the last check also counts as work (the request counter grew): a run
# that starts near the idle mark sends its first requests between two checks, and keeps its instance.
# A server that does not answer counts as idle: a crash-looping server serves nobody and must not keep
# an 8-GPU instance billed until the lifetime limit.
set -euo pipefail
RAIDEN_ROOT="${RAIDEN_ROOT:-}"
# shellcheck source=/dev/null
. "${RAIDEN_ROOT}/etc/raiden/fleet.env"
idle_since_file="${RAIDEN_ROOT}/var/lib/raiden/idle-since"
finished_file="${RAIDEN_ROOT}/var/lib/raiden/requests-finished"
now="$(date +%s)"

requests=0
finished=0
for port in $RAIDEN_SERVER_PORTS; do
  # The header comes from a root-only file: a key in curl's arguments would be readable with ps.
  if metrics="$(curl -fsS --max-time 10 -H "@${RAIDEN_ROOT}{{AUTH_HEADER_FILE}}" "http://127.0.0.1:${port}/metrics")"; then
    count="$(printf '%s\n' "$metrics" | awk '$1 ~ /^sglang:num_(running|queue)_reqs($|\{)/ { sum += $NF } END { printf "%d", sum }')"
    done_count="$(printf '%s\n' "$metrics" | awk '$1 ~ /^sglang:num_requests_total($|\{)/ { sum += $NF } END { printf "%d", sum }')"
    requests=$((requests + count))
    finished=$((finished + done_count))
  else
    echo "raiden-watchdog: no metrics from port ${port}; counting it as idle"
  fi
done
previous="$(cat "$finished_file" 2>/dev/null || echo "$finished")"
echo "$finished" > "$finished_file"

if [ "$requests" -gt 0 ] || [ "$finished" -gt "$previous" ]; then
  rm -f "$idle_since_file"
  echo "raiden-watchdog: busy, ${requests} running or queued requests, $((finished - previous)) finished since the last check"
  exit 0
fi
if [ ! -s "$idle_since_file" ]; then
  echo "$now" > "$idle_since_file"
  echo "raiden-watchdog: idle, starting the ${RAIDEN_IDLE_MINUTES}-minute idle timer"
  exit 0
fi
idle_seconds=$((now - $(cat "$idle_since_file")))
if [ "$idle_seconds" -lt $((RAIDEN_IDLE_MINUTES * 60)) ]; then
  echo "raiden-watchdog: idle for ${idle_seconds}s of $((RAIDEN_IDLE_MINUTES * 60))s"
  exit 0
fi
echo "raiden-watchdog: idle for ${idle_seconds}s; scaling in"
exec "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" "idle for ${RAIDEN_IDLE_MINUTES} minutes"
