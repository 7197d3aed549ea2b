# shellcheck shell=bash
# Ship the user-data, server, watchdog and lifetime logs to CloudWatch Logs with the CloudWatch agent, and
# scrape every SGLang server's /metrics into CloudWatch metrics. The scraper reads the API key from a
# root-only file that fetch-secrets writes later; until then (and until the servers listen) its scrapes
# fail and it retries every minute.
if ! command -v amazon-cloudwatch-agent-ctl >/dev/null && [ ! -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]; then
  curl -fsSL -o /tmp/amazon-cloudwatch-agent.deb \
    "https://amazoncloudwatch-agent-${RAIDEN_REGION}.s3.${RAIDEN_REGION}.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
  dpkg -i -E /tmp/amazon-cloudwatch-agent.deb
fi
agent_ctl="$(command -v amazon-cloudwatch-agent-ctl || echo /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl)"
cat > "${RAIDEN_ROOT}{{PROMETHEUS_CONFIG_FILE}}" <<RAIDEN_JSON
{{PROMETHEUS_CONFIG}}
RAIDEN_JSON
cat > "${RAIDEN_ROOT}/etc/raiden/cloudwatch-agent.json" <<RAIDEN_JSON
{{CLOUDWATCH_AGENT_CONFIG}}
RAIDEN_JSON
"$agent_ctl" -a fetch-config -m ec2 -s -c "file:${RAIDEN_ROOT}/etc/raiden/cloudwatch-agent.json"
echo "raiden: shipping logs and SGLang metrics to CloudWatch log group ${RAIDEN_LOG_GROUP}"
