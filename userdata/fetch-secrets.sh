# shellcheck shell=bash
# Put the SGLang API key (and the Hugging Face token, if configured) in a root-only env file the server
# units read, so no secret is ever part of user-data.
secret_value() {
  aws secretsmanager get-secret-value --region "$RAIDEN_REGION" --secret-id "$1" --query SecretString --output text
}
umask 077
{
  printf 'SGLANG_API_KEY=%s\n' "$(secret_value "$RAIDEN_API_KEY_SECRET")"
  if [ -n "$RAIDEN_HF_TOKEN_SECRET" ]; then
    printf 'HF_TOKEN=%s\n' "$(secret_value "$RAIDEN_HF_TOKEN_SECRET")"
  fi
} > "${RAIDEN_ROOT}/etc/raiden/sglang.env"
umask 022
