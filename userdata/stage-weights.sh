# shellcheck shell=bash
# Stage each model once into the model cache: from S3 with `aws s3 sync`, or from Hugging Face with
# huggingface_hub (shipped with SGLang) and the optional token from fetch-secrets. A Hugging Face model
# that `raiden weights stage` copied into the weights bucket is read from there instead: S3 traffic goes
# through the VPC's gateway endpoint, which has no data processing charge, while a download from Hugging
# Face crosses the NAT gateway at about 0.045 USD per GB (about 6.5 USD for a 72B model, on every boot).
hf_download() {
  local script='import sys; from huggingface_hub import snapshot_download; snapshot_download(repo_id=sys.argv[1], local_dir=sys.argv[2])'
  if [ "$RAIDEN_SGLANG_RUNTIME" = docker ]; then
    docker run --rm --network host --env-file "${RAIDEN_ROOT}/etc/raiden/sglang.env" \
      -v "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}:${RAIDEN_MODEL_CACHE}" "$RAIDEN_SGLANG_IMAGE" \
      python3 -c "$script" "$1" "${RAIDEN_MODEL_CACHE}/$2"
  else
    # shellcheck source=/dev/null
    (set -a && . "${RAIDEN_ROOT}/etc/raiden/sglang.env" && set +a &&
      "${RAIDEN_ROOT}${RAIDEN_VENV}/bin/python" -c "$script" "$1" "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}/$2")
  fi
}
# aws s3 runs 10 requests at a time by default; weights are a few large files, so more parallel requests
# fill the instance's network: https://docs.aws.amazon.com/cli/latest/topic/s3-config.html
# The settings go to a config file of the sync's own, so root's ~/.aws/config stays as the AMI left it.
s3_sync_config="${RAIDEN_ROOT}/etc/raiden/aws-s3-sync.config"
AWS_CONFIG_FILE="$s3_sync_config" aws configure set default.s3.max_concurrent_requests 64
AWS_CONFIG_FILE="$s3_sync_config" aws configure set default.s3.multipart_chunksize 64MB
s3_sync() {
  AWS_CONFIG_FILE="$s3_sync_config" aws s3 sync --only-show-errors --region "$RAIDEN_REGION" "$@"
}
# stage_model s3 <s3 url> <cache dir> | stage_model hf <model id> <cache dir> <staged prefix in the weights bucket>
stage_model() {
  echo "raiden: staging $2 into ${RAIDEN_MODEL_CACHE}/$3"
  if [ "$1" = s3 ]; then
    s3_sync "$2" "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}/$3"
  elif aws s3api head-object --region "$RAIDEN_REGION" --bucket "$RAIDEN_WEIGHTS_BUCKET" --key "$4/{{STAGED_MARKER}}" >/dev/null 2>&1; then
    echo "raiden: $2 is staged in s3://${RAIDEN_WEIGHTS_BUCKET}/$4/; reading it through the S3 gateway endpoint"
    s3_sync --exclude "{{STAGED_MARKER}}" "s3://${RAIDEN_WEIGHTS_BUCKET}/$4/" "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}/$3"
  else
    echo "raiden: $2 is not in the weights bucket (npx raiden weights stage --model $2 copies it there once);" \
      "downloading it from Hugging Face through the NAT gateway"
    hf_download "$2" "$3"
  fi
}
{{STAGE_COMMANDS}}
