# shellcheck shell=bash
# Settings for every later step, fixed at synth time; the only job that holds CloudFormation values
# (bucket, log group and secret names), so the others can be compressed. RAIDEN_ROOT (empty on the
# instance) lets tests run the script against a temporary directory instead of /.
set -Eeuo pipefail
RAIDEN_ROOT="${RAIDEN_ROOT:-}"
# Scale in on any failure, from the first command on: a broken instance must never stay billed. Scaling
# in terminates this instance and decrements the group's desired capacity (a plain shutdown would make the
# group launch a replacement); only without an instance id or a working scale-in does it power off, which
# terminates it (the launch template's shutdown behaviour).
on_exit() {
  local status=$1
  [ "$status" -eq 0 ] && return 0
  echo "raiden: user-data failed (exit $status); scaling in" >&2
  if [ -n "${RAIDEN_INSTANCE_ID:-}" ]; then
    tag_state failed || true
    if [ -x "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" ] &&
      "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" "user-data failed with exit status $status"; then
      return 0
    fi
  fi
  echo "raiden: could not scale in through the auto-scaling group; powering off, which terminates this instance" >&2
  systemctl poweroff || true
}
trap 'on_exit $?' EXIT

# The tag shows the fleet's state in the console and to the orchestrator: booting, ready, failed.
tag_state() {
  aws ec2 create-tags --region "$RAIDEN_REGION" --resources "$RAIDEN_INSTANCE_ID" --tags "Key=raiden:state,Value=$1"
}

# Root only: the server logs may echo SGLang's arguments, the API key among them.
install -d -m 0750 "${RAIDEN_ROOT}/var/log/raiden"
install -d -m 0755 "${RAIDEN_ROOT}/etc/raiden" "${RAIDEN_ROOT}/var/lib/raiden" "${RAIDEN_ROOT}/usr/local/bin" \
  "${RAIDEN_ROOT}/etc/systemd/system"
exec > >(tee -a "${RAIDEN_ROOT}/var/log/raiden/user-data.log") 2>&1
echo "raiden: user-data started $(date -u +%FT%TZ)"
# The health deadline counts from here, not from the server start: image pull and weight staging are part
# of the time the orchestrator waits for, and of the time this instance is billed.
RAIDEN_BOOT_STARTED="$(date +%s)"
export RAIDEN_BOOT_STARTED

export RAIDEN_REGION={{REGION}}
export RAIDEN_LOG_GROUP={{LOG_GROUP}}
export RAIDEN_WEIGHTS_BUCKET={{WEIGHTS_BUCKET}}
export RAIDEN_API_KEY_SECRET={{API_KEY_SECRET}}
export RAIDEN_HF_TOKEN_SECRET={{HF_TOKEN_SECRET}}
export RAIDEN_SGLANG_RUNTIME={{SGLANG_RUNTIME}}
export RAIDEN_SGLANG_IMAGE={{SGLANG_IMAGE}}
export RAIDEN_SGLANG_PIP_VERSION={{SGLANG_PIP_VERSION}}
export RAIDEN_VENV={{VENV}}
export RAIDEN_MODEL_CACHE={{MODEL_CACHE}}
export RAIDEN_GPUS_NEEDED={{GPUS_NEEDED}}
export RAIDEN_SERVER_UNITS={{SERVER_UNITS}}
export RAIDEN_SERVER_PORTS={{SERVER_PORTS}}
export RAIDEN_HEALTH_TIMEOUT_SECONDS={{HEALTH_TIMEOUT_SECONDS}}

# IMDS can be slow to answer in the first seconds of a boot; retry before giving up.
imds() {
  curl -fsS --retry 5 --retry-connrefused --retry-delay 2 "$@"
}
imds_token="$(imds -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)"
RAIDEN_INSTANCE_ID="$(imds -H "X-aws-ec2-metadata-token: ${imds_token}" http://169.254.169.254/latest/meta-data/instance-id)"

# The watchdog and scale-in scripts read this file after boot.
cat > "${RAIDEN_ROOT}/etc/raiden/fleet.env" <<RAIDEN_ENV
RAIDEN_REGION=${RAIDEN_REGION}
RAIDEN_INSTANCE_ID=${RAIDEN_INSTANCE_ID}
RAIDEN_SERVER_PORTS="${RAIDEN_SERVER_PORTS}"
export RAIDEN_IDLE_MINUTES={{IDLE_MINUTES}}
RAIDEN_ENV

# The scale-in script is the first thing installed, so a failure of any later step can scale in.
cat > "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in" <<'RAIDEN_SCRIPT'
{{SCALE_IN_SCRIPT}}
RAIDEN_SCRIPT
chmod 0755 "${RAIDEN_ROOT}/usr/local/bin/raiden-scale-in"
tag_state booting
