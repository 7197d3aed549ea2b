#!/bin/bash
# raiden scale-in: terminate this instance and decrement its auto-scaling group's desired capacity, so
# the group does not launch a replacement (a plain shutdown would). Usage: raiden-scale-in <reason>
set -euo pipefail
RAIDEN_ROOT="${RAIDEN_ROOT:-}"
# shellcheck source=/dev/null
. "${RAIDEN_ROOT}/etc/raiden/fleet.env"
reason="${1:-no reason given}"
echo "raiden-scale-in: terminating ${RAIDEN_INSTANCE_ID}: ${reason}"
aws ec2 create-tags --region "$RAIDEN_REGION" --resources "$RAIDEN_INSTANCE_ID" --tags "Key=raiden:state,Value=scaling-in" || true
# Give the CloudWatch agent time to ship the last log lines.
sleep "${RAIDEN_LOG_FLUSH_SECONDS:-20}"
aws autoscaling terminate-instance-in-auto-scaling-group --region "$RAIDEN_REGION" \
  --instance-id "$RAIDEN_INSTANCE_ID" --should-decrement-desired-capacity
