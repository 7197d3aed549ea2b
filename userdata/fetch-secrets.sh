# shellcheck shell=bash
# Put the SGLang API key (and the Hugging Face token, if configured) in root-only files: an env file the
# server units read, a header file curl reads with -H @file, and the bare key the metrics scraper reads.
# No secret is ever part of user-data or of a process's arguments, which any local user can read with ps.
secret_value() {
  aws secretsmanager get-secret-value --region "$RAIDEN_REGION" --secret-id "$1" --query SecretString --output text
}
umask 077
api_key="$(secret_value "$RAIDEN_API_KEY_SECRET")"
{
  printf 'SGLANG_API_KEY=%s\n' "$api_key"
  if [ -n "$RAIDEN_HF_TOKEN_SECRET" ]; then
    printf 'HF_TOKEN=%s\n' "$(secret_value "$RAIDEN_HF_TOKEN_SECRET")"
  fi
} > "${RAIDEN_ROOT}/etc/raiden/sglang.env"
printf 'Authorization: Bearer %s\n' "$api_key" > "${RAIDEN_ROOT}{{AUTH_HEADER_FILE}}"
printf '%s\n' "$api_key" > "${RAIDEN_ROOT}{{API_KEY_FILE}}"
unset api_key
umask 022
