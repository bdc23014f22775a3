#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian/Ubuntu: librdkafka, zlib and jemalloc headers,
# kcat (benchmarks), and the Python packages of the training pipeline and the parity checks.
# Idempotent and quiet when everything is already there. Uses sudo only when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
dpkg -s librdkafka-dev >/dev/null 2>&1 || need_apt+=(librdkafka-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
dpkg -s libjemalloc-dev >/dev/null 2>&1 || need_apt+=(libjemalloc-dev)  # the scorer's allocator (Package.swift)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# pip also fetches the modern librdkafka and Tansu (scripts/librdkafka.sh, scripts/tansu.sh): WITH_PIP=1.
if [ "${WITH_PYTHON:-1}" = 1 ] || [ "${WITH_PIP:-0}" = 1 ]; then
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
  dpkg -s libgomp1 >/dev/null 2>&1 || need_apt+=(libgomp1)  # OpenMP runtime of the lightgbm wheel
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${WITH_PYTHON:-1}" = 1 ]; then
  if ! python3 -c 'import xgboost, lightgbm, numpy, pandas, sklearn, orjson' >/dev/null 2>&1; then
    echo "setup: installing Python packages from models/train/requirements.txt"
    python3 -m pip install -q -r models/train/requirements.txt 2>/dev/null \
      || python3 -m pip install -q --break-system-packages -r models/train/requirements.txt
  fi
fi
