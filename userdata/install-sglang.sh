# shellcheck shell=bash
# Install the pinned SGLang: pull the container image, or pip-install it into a virtualenv.
if [ "$RAIDEN_SGLANG_RUNTIME" = docker ]; then
  docker pull --quiet "$RAIDEN_SGLANG_IMAGE"
else
  python3 -m venv "${RAIDEN_ROOT}${RAIDEN_VENV}"
  "${RAIDEN_ROOT}${RAIDEN_VENV}/bin/python" -m pip install --quiet --upgrade pip
  "${RAIDEN_ROOT}${RAIDEN_VENV}/bin/python" -m pip install --quiet "sglang[all]==${RAIDEN_SGLANG_PIP_VERSION}"
fi
