# shellcheck shell=bash
# Arm the idle watchdog once the servers are ready: every minute it reads each server's /metrics and
# scales in after {{IDLE_MINUTES}} minutes without running or queued requests.
cat > "${RAIDEN_ROOT}/usr/local/bin/raiden-watchdog" <<'RAIDEN_SCRIPT'
{{WATCHDOG_SCRIPT}}
RAIDEN_SCRIPT
chmod 0755 "${RAIDEN_ROOT}/usr/local/bin/raiden-watchdog"
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-watchdog.service" <<'RAIDEN_UNIT'
{{WATCHDOG_SERVICE}}
RAIDEN_UNIT
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-watchdog.timer" <<'RAIDEN_UNIT'
{{WATCHDOG_TIMER}}
RAIDEN_UNIT
systemctl daemon-reload
systemctl enable --now raiden-watchdog.timer
echo "raiden: user-data finished $(date -u +%FT%TZ)"
