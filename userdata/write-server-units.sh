# shellcheck shell=bash
# One systemd unit per SGLang server, each with its own GPUs, HTTP port and NCCL port.
{{SERVER_UNIT_FILES}}
