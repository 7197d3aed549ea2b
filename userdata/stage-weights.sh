# shellcheck shell=bash
# Stage each model once into the model cache: from S3 with `aws s3 sync`, or from Hugging Face with
# huggingface_hub (shipped with SGLang) and the optional token from fetch-secrets.
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
stage_model() {
  echo "raiden: staging $2 into ${RAIDEN_MODEL_CACHE}/$3"
  if [ "$1" = s3 ]; then
    aws s3 sync --only-show-errors --region "$RAIDEN_REGION" "$2" "${RAIDEN_ROOT}${RAIDEN_MODEL_CACHE}/$3"
  else
    hf_download "$2" "$3"
  fi
}
{{STAGE_COMMANDS}}
