#!/usr/bin/env bash
# Installs what building, running and testing esper need, on Debian 12 (as root, or with
# sudo). Does nothing when everything is present, so `make run` / `make test` stay fast.
set -euo pipefail

packages=(
  pkg-config
  libmicrohttpd-dev libhiredis-dev libjansson-dev libsqlite3-dev libssl-dev zlib1g-dev
  libopenblas-dev libcurl4-openssl-dev
  redis-server redis-tools
  prometheus
  prometheus-alertmanager
  chromium chromium-driver
  python3 python3-pip
  curl jq
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools (PyPI): the OpenAPI document check, the client's tests, spec conformance, and
# selenium driving Debian's chromium for the console's browser tests.
python_packages=(openapi-spec-validator pyyaml requests pytest schemathesis selenium)
if ! python3 -c "import openapi_spec_validator, yaml, requests, pytest, schemathesis, selenium" 2>/dev/null; then
  echo "bootstrap: installing ${python_packages[*]}" >&2
  python3 -m pip install --quiet "${python_packages[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "${python_packages[@]}"
fi

command -v swift >/dev/null || { echo "bootstrap: the Swift 6 toolchain must be on PATH (swift not found)" >&2; exit 1; }
