# shellcheck shell=bash
# Start the servers, wait until each answers {{READY_PATH}} (503 while weights load), then tag the
# instance ready. The deadline counts from the start of the boot (RAIDEN_BOOT_STARTED), so a slow image
# pull or weight download leaves less time here instead of extending the instance's billed life.
systemctl daemon-reload
for unit in $RAIDEN_SERVER_UNITS; do
  systemctl enable --now "$unit"
done
deadline=$((RAIDEN_BOOT_STARTED + RAIDEN_HEALTH_TIMEOUT_SECONDS))
for port in $RAIDEN_SERVER_PORTS; do
  until curl -fsS -o /dev/null --max-time 60 -H "@${RAIDEN_ROOT}{{AUTH_HEADER_FILE}}" "http://127.0.0.1:${port}{{READY_PATH}}"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "raiden: the server on port $port is not ready ${RAIDEN_HEALTH_TIMEOUT_SECONDS}s after the boot started" >&2
      exit 1
    fi
    sleep 15
  done
  echo "raiden: the server on port $port is ready"
done
tag_state ready
