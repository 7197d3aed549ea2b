# shellcheck shell=bash
# Fail early (and scale in) when the instance has fewer GPUs than the layout uses.
gpus_found="$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)"
if [ "$gpus_found" -lt "$RAIDEN_GPUS_NEEDED" ]; then
  echo "raiden: the layout needs $RAIDEN_GPUS_NEEDED GPUs but nvidia-smi lists $gpus_found" >&2
  exit 1
fi
echo "raiden: $gpus_found GPUs found, the layout uses $RAIDEN_GPUS_NEEDED"
