# shellcheck shell=bash
# Cache models on the instance-store NVMe, which the Deep Learning AMI formats and mounts at
# {{NVME_MOUNT}} (p5en.48xlarge: 8 x 3.84 TB). Without it, fall back to the root volume.
if mountpoint -q "${RAIDEN_ROOT}{{NVME_MOUNT}}"; then
  echo "raiden: model cache on the instance store at {{NVME_MOUNT}}"
else
  echo "raiden: WARNING: {{NVME_MOUNT}} is not a mount point; caching models on the root volume" >&2
fi
install -d -m 0755 "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}"
