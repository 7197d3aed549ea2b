# shellcheck shell=bash
# Settings for every later step, fixed at synth time; the only job that holds CloudFormation values
# (bucket, log group and secret names), so the others can be compressed. RAIDEN_ROOT (empty on the
# instance) lets tests run the script against a temporary directory instead of /.
set -Eeuo pipefail
RAIDEN_ROOT="${RAIDEN_ROOT:-}"
install -d -m 0755 "${RAIDEN_ROOT}/var/log/raiden" "${RAIDEN_ROOT}/etc/raiden" "${RAIDEN_ROOT}/var/lib/raiden" \
  "${RAIDEN_ROOT}/usr/local/bin" "${RAIDEN_ROOT}/etc/systemd/system"
exec > >(tee -a "${RAIDEN_ROOT}/var/log/raiden/user-data.log") 2>&1
echo "raiden: user-data started $(date -u +%FT%TZ)"

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

imds_token="$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)"
RAIDEN_INSTANCE_ID="$(curl -fsS -H "X-aws-ec2-metadata-token: ${imds_token}" http://169.254.169.254/latest/meta-data/instance-id)"

# The watchdog and scale-in scripts read this file after boot.
cat > "${RAIDEN_ROOT}/etc/raiden/fleet.env" <<RAIDEN_ENV
RAIDEN_REGION=${RAIDEN_REGION}
RAIDEN_INSTANCE_ID=${RAIDEN_INSTANCE_ID}
RAIDEN_SERVER_PORTS="${RAIDEN_SERVER_PORTS}"
export RAIDEN_IDLE_MINUTES={{IDLE_MINUTES}}
RAIDEN_ENV

# The tag shows the fleet's state in the console and to the orchestrator: booting, ready, failed.
tag_state() {
  aws ec2 create-tags --region "$RAIDEN_REGION" --resources "$RAIDEN_INSTANCE_ID" --tags "Key=raiden:state,Value=$1"
}
tag_state booting
