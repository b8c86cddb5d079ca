#!/usr/bin/env bash
# Installs what dctwin needs to build, test and run, from Debian's packages. Idempotent: does
# nothing when everything is already there. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libcereal-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libtomlplusplus-dev libcli11-dev libsimdjson-dev
  libsystemd-dev libcpp-httplib-dev
  mosquitto mosquitto-clients collectd-core openssl python3 bc curl
  prometheus-alertmanager prometheus chromium fonts-dejavu-core libfaketime clang
)

# node and npm build the operators' page and run its browser tests. A machine may already have
# them from elsewhere (a nodejs that bundles npm): then Debian's npm would conflict, so ask for
# Debian's packages only for what is missing.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
