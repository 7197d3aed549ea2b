# shellcheck shell=bash
# Arm the hard lifetime limit before anything slow, and scale in if any later step fails: a broken
# instance must never stay billed. Scaling in terminates this instance and decrements the group's
# desired capacity; a plain shutdown would make the auto-scaling group launch a replacement.
cat > "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" <<'RAIDEN_SCRIPT'
{{SCALE_IN_SCRIPT}}
RAIDEN_SCRIPT
chmod 0755 "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in"
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-max-lifetime.service" <<'RAIDEN_UNIT'
{{MAX_LIFETIME_SERVICE}}
RAIDEN_UNIT
cat > "${RAIDEN_ROOT}/etc/systemd/system/raiden-max-lifetime.timer" <<'RAIDEN_UNIT'
{{MAX_LIFETIME_TIMER}}
RAIDEN_UNIT
systemctl daemon-reload
systemctl enable --now raiden-max-lifetime.timer

on_exit() {
  local status=$1
  [ "$status" -eq 0 ] && return 0
  echo "raiden: user-data failed (exit $status); scaling in" >&2
  tag_state failed || true
  "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" "user-data failed with exit status $status" || true
}
trap 'on_exit $?' EXIT
