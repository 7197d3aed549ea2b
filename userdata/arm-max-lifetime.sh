# shellcheck shell=bash
# Arm the hard lifetime limit before anything slow: maxHours after boot the instance scales itself in,
# busy or not.
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-max-lifetime.service" <<'RAIDEN_UNIT'
{{MAX_LIFETIME_SERVICE}}
RAIDEN_UNIT
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-max-lifetime.timer" <<'RAIDEN_UNIT'
{{MAX_LIFETIME_TIMER}}
RAIDEN_UNIT
systemctl daemon-reload
systemctl enable --now raiden-max-lifetime.timer
