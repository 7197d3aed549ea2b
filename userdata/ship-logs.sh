# shellcheck shell=bash
# Ship the user-data, server, watchdog and lifetime logs to CloudWatch Logs with the CloudWatch agent.
if ! command -v amazon-cloudwatch-agent-ctl >/dev/null && [ ! -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]; then
  curl -fsSL -o /tmp/amazon-cloudwatch-agent.deb \
    "https://amazoncloudwatch-agent-${RAIDEN_REGION}.s3.${RAIDEN_REGION}.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
  dpkg -i -E /tmp/amazon-cloudwatch-agent.deb
fi
agent_ctl="$(command -v amazon-cloudwatch-agent-ctl || echo /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl)"
cat > "${RAIDEN_ROOT}/etc/raiden/cloudwatch-agent.json" <<RAIDEN_JSON
{{CLOUDWATCH_AGENT_CONFIG}}
RAIDEN_JSON
"$agent_ctl" -a fetch-config -m ec2 -s -c "file:${RAIDEN_ROOT}/etc/raiden/cloudwatch-agent.json"
echo "raiden: shipping logs to CloudWatch log group ${RAIDEN_LOG_GROUP}"
