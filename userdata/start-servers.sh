# shellcheck shell=bash
# Start the servers, wait until each answers {{READY_PATH}} (503 while weights load), then tag the
# instance ready.
systemctl daemon-reload
for unit in $RAIDEN_SERVER_UNITS; do
  systemctl enable --now "$unit"
done
api_key="$(sed -n 's/^SGLANG_API_KEY=//p' "${RAIDEN_ROOT}/etc/raiden/sglang.env")"
deadline=$(($(date +%s) + RAIDEN_HEALTH_TIMEOUT_SECONDS))
for port in $RAIDEN_SERVER_PORTS; do
  until curl -fsS -o /dev/null --max-time 60 -H "Authorization: Bearer ${api_key}" "http://127.0.0.1:${port}{{READY_PATH}}"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "raiden: the server on port $port is not ready after ${RAIDEN_HEALTH_TIMEOUT_SECONDS}s" >&2
      exit 1
    fi
    sleep 15
  done
  echo "raiden: the server on port $port is ready"
done
tag_state ready
