#!/usr/bin/env bash
# Install what ptbm needs on Debian 12 (run as root). Installs only what is
# missing, so it is cheap to run again. Usage: scripts/setup.sh [--pg]
#   --pg  also PostgreSQL 15 and its server headers (the extension)
set -euo pipefail
pkgs=(build-essential cmake pkg-config liburing-dev libxxhash-dev libcmocka-dev
      clang clang-format libclang-rt-14-dev gnuplot-nox fio)
if [[ "${1:-}" == "--pg" ]]; then
  pkgs+=(postgresql-15 postgresql-server-dev-15 postgresql-common)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
